//! A small iPUSH ledger (two households of one member each) that fuzzed commands are decided
//! against, shared by the fuzz targets that decide.

use std::sync::OnceLock;

use claims_ledger::command::{Command, decide};
use ledger::Date;
use ledger::event::Gender;
use projections::Projections;

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("a valid id")
}

/// A scheme, two households with a member each.
pub fn base() -> &'static Projections {
    static BASE: OnceLock<Projections> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut p = Projections::new();
        let on = Date::from_ymd_opt(2026, 1, 2).unwrap_or(Date::MIN);
        let mut setup = vec![Command::PublishScheme {
            document: adjudicator::examples::IPUSH_KE.to_owned(),
            effective_from: on,
        }];
        for (h, m) in [("HH-1", "M-1"), ("HH-2", "M-2")] {
            setup.push(Command::RegisterHousehold {
                household_id: id(h),
                scheme_id: id("ipush-ke"),
                location_code: "KSM".into(),
                socio_economic_category: String::new(),
                registered_on: on,
            });
            setup.push(Command::EnrollMember {
                member_id: id(m),
                household_id: id(h),
                gender: Gender::Female,
                birth_date: Date::from_ymd_opt(1990, 1, 1).unwrap_or(Date::MIN),
                is_head: true,
                facility_id: None,
                enrolled_on: on,
            });
        }
        for command in &setup {
            apply(&mut p, command);
        }
        p
    })
}

/// Decides `command`; what is decided must apply. A period close is followed by its
/// statements, as the ledger issues them (one partition).
pub fn apply(p: &mut Projections, command: &Command) {
    apply_one(p, command);
    if let Command::ClosePaymentPeriod {
        period_id,
        scheme_id,
        starts_on,
        ends_on,
        closed_on,
    } = command
    {
        let close = claims_ledger::command::period_close::Close {
            period_id,
            scheme_id,
            starts_on: *starts_on,
            ends_on: *ends_on,
            closed_on: *closed_on,
        };
        if let Ok(parts) = claims_ledger::command::period_close::next_statements(&[&*p], &close, |_| 0)
            && !parts.is_empty()
        {
            apply_one(p, &Command::RecordStatements { parts });
        }
    }
}

fn apply_one(p: &mut Projections, command: &Command) {
    if let Ok(decided) = decide(p, command) {
        for e in decided.events {
            let position = p.position();
            if let Err(error) = p.apply(position, &e.event) {
                panic!("decided but not applicable: {error}\n{command:?}");
            }
        }
    }
}

