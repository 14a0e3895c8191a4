//! Registering: scheme versions, households and their members.

use super::*;

/// Decides [`Command::PublishScheme`].
pub(super) fn publish_scheme(
    p: &Projections,
    document: &str,
    effective_from: &Date,
) -> Result<Decided, Rejection> {
    let scheme = Scheme::parse(document).map_err(|e| Rejection::InvalidScheme(e.to_string()))?;
    if let Some(existing) = p.registry.schemes.get(&scheme.id)
        && existing.iter().any(|s| s.version >= scheme.version)
    {
        return Err(Rejection::SchemeVersionExists {
            scheme: scheme.id.clone(),
            version: scheme.version,
        });
    }
    if let Some(latest) = p.registry.scheme(&scheme.id) {
        version_follows(latest, &scheme, *effective_from)?;
    }
    Ok(decided(single(
        StreamId::scheme(&scheme.id),
        Event::SchemePublished(SchemePublished {
            scheme_id: scheme.id.clone(),
            version: scheme.version,
            content_sha256: scheme.content_sha256,
            document: document.to_owned(),
            effective_from: *effective_from,
        }),
    )))
}

/// Decides [`Command::RegisterHousehold`].
pub(super) fn register_household(
    p: &Projections,
    household_id: &HouseholdId,
    scheme_id: &SchemeId,
    location_code: &str,
    socio_economic_category: &str,
    registered_on: &Date,
) -> Result<Decided, Rejection> {
    if p.registry.households.contains_key(household_id) {
        return Err(Rejection::HouseholdExists(household_id.clone()));
    }
    if p.registry.scheme(scheme_id).is_none() {
        return Err(Rejection::UnknownScheme(scheme_id.clone()));
    }
    Ok(decided(single(
        StreamId::household(household_id),
        Event::HouseholdRegistered(HouseholdRegistered {
            household_id: household_id.clone(),
            scheme_id: scheme_id.clone(),
            location_code: location_code.to_owned(),
            socio_economic_category: socio_economic_category.to_owned(),
            registered_on: *registered_on,
        }),
    )))
}

/// Decides [`Command::EnrollMember`].
pub(super) fn enroll_member(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    let Command::EnrollMember {
        member_id,
        household_id,
        gender,
        birth_date,
        is_head,
        facility_id,
        enrolled_on,
    } = command
    else {
        return Err(not_the_command("EnrollMember"));
    };
    since_registration(p, household_id, "enrolled_on", *enrolled_on)?;
    let scheme = scheme_of(p, household_id, "enrolled_on", *enrolled_on)?;
    if p.registry.members.contains_key(member_id) {
        return Err(Rejection::MemberExists(member_id.clone()));
    }
    if let Some(f) = facility_id
        && !scheme.scheme.facilities.contains_key(f)
    {
        return Err(Rejection::UnknownFacility(f.clone()));
    }
    Ok(decided(single(
        StreamId::household(household_id),
        Event::MemberEnrolled(MemberEnrolled {
            member_id: member_id.clone(),
            household_id: household_id.clone(),
            gender: *gender,
            birth_date: *birth_date,
            is_head: *is_head,
            facility_id: facility_id.clone(),
            enrolled_on: *enrolled_on,
        }),
    )))
}
