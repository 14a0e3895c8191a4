//! Who may call what: bearer tokens bound to roles, checked before any handler runs.
//!
//! Tokens live in the server configuration as SHA-256 digests (hex), never in clear. A
//! request's `authorization: Bearer <token>` header is hashed and looked up; the caller it
//! names goes into the request's extensions, where handlers read it for the checks that
//! depend on the message (a facility may only submit and see its own claims and statements).
//! Which roles may call which method is one table, [`access`]; a method not in it is refused.

use std::collections::HashMap;
use std::fmt;

use ledger::ids::FacilityId;
use sha2::{Digest, Sha256};
use tonic::{Code, Status};

use crate::api::status::error;

/// A role a token is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including publishing schemes.
    Admin,
    /// Every command except publishing schemes, and every query.
    Insurer,
    /// Eligibility for any member; its own claims and statements only.
    Facility,
    /// The audit service and every query; no commands.
    Auditor,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Insurer,
    Facility(FacilityId),
    Auditor,
}

impl Caller {
    pub fn role(&self) -> Role {
        match self {
            Caller::Admin => Role::Admin,
            Caller::Insurer => Role::Insurer,
            Caller::Facility(_) => Role::Facility,
            Caller::Auditor => Role::Auditor,
        }
    }

    /// The facility a facility token is bound to; `None` for every other role.
    pub fn facility(&self) -> Option<&FacilityId> {
        match self {
            Caller::Facility(f) => Some(f),
            _ => None,
        }
    }
}

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed: health checking and reflection.
    Public,
    /// Admin only.
    Admin,
    /// Admin and insurer.
    Command,
    /// Admin, insurer, and a facility for itself (the handler checks which facility).
    FacilityCommand,
    /// Admin, insurer, auditor.
    Query,
    /// Admin, insurer, auditor, and a facility (for itself where the request names one).
    FacilityQuery,
    /// Admin and auditor.
    Audit,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Access::Public => true,
            Access::Admin => role == Admin,
            Access::Command => matches!(role, Admin | Insurer),
            Access::FacilityCommand => matches!(role, Admin | Insurer | Facility),
            Access::Query => matches!(role, Admin | Insurer | Auditor),
            Access::FacilityQuery => true,
            Access::Audit => matches!(role, Admin | Auditor),
        }
    }
}

/// Every method of the API with who may call it. Paths not listed are refused, so a new RPC
/// is closed until it is added here (and to the role-matrix test).
pub const METHODS: &[(&str, Access)] = &[
    ("/ledger.v1.LedgerService/PublishScheme", Access::Admin),
    (
        "/ledger.v1.LedgerService/RegisterHousehold",
        Access::Command,
    ),
    ("/ledger.v1.LedgerService/EnrollMember", Access::Command),
    (
        "/ledger.v1.LedgerService/RecordContribution",
        Access::Command,
    ),
    ("/ledger.v1.LedgerService/PayPremium", Access::Command),
    (
        "/ledger.v1.LedgerService/SubmitClaim",
        Access::FacilityCommand,
    ),
    (
        "/ledger.v1.LedgerService/SubmitClaims",
        Access::FacilityCommand,
    ),
    ("/ledger.v1.LedgerService/ReviewClaim", Access::Command),
    ("/ledger.v1.LedgerService/ReverseClaim", Access::Command),
    ("/ledger.v1.LedgerService/RecordCopayment", Access::Command),
    ("/ledger.v1.LedgerService/RecordStockVisit", Access::Command),
    (
        "/ledger.v1.LedgerService/ClosePaymentPeriod",
        Access::Command,
    ),
    (
        "/ledger.v1.LedgerService/RecordFacilityPayout",
        Access::Command,
    ),
    ("/ledger.v1.QueryService/GetBalance", Access::Query),
    ("/ledger.v1.QueryService/GetTrialBalance", Access::Query),
    (
        "/ledger.v1.QueryService/CheckEligibility",
        Access::FacilityQuery,
    ),
    ("/ledger.v1.QueryService/GetClaim", Access::FacilityQuery),
    ("/ledger.v1.QueryService/GetCoverage", Access::Query),
    ("/ledger.v1.QueryService/ListClaims", Access::FacilityQuery),
    (
        "/ledger.v1.QueryService/GetFacilityStatement",
        Access::FacilityQuery,
    ),
    (
        "/ledger.v1.QueryService/ListFacilityStatements",
        Access::FacilityQuery,
    ),
    ("/ledger.v1.QueryService/GetStock", Access::FacilityQuery),
    ("/ledger.v1.QueryService/ListAccounts", Access::Query),
    ("/ledger.v1.QueryService/GetSponsor", Access::Query),
    ("/ledger.v1.QueryService/GetAccountBalance", Access::Query),
    ("/ledger.v1.AuditService/ReadEvents", Access::Audit),
    ("/ledger.v1.AuditService/SubscribeEvents", Access::Audit),
    ("/ledger.v1.AuditService/VerifyLog", Access::Audit),
    ("/ledger.v1.AuditService/GetProjectionDigest", Access::Audit),
];

/// Services that need no token (their methods are matched by prefix).
const PUBLIC_SERVICES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The access rule of a request path and the path as a `'static` label (for metrics), or
/// `None` for a path the server does not know.
pub fn access(path: &str) -> Option<(&'static str, Access)> {
    if let Some((method, access)) = METHODS.iter().find(|(m, _)| *m == path) {
        return Some((method, *access));
    }
    PUBLIC_SERVICES
        .iter()
        .find(|prefix| path.starts_with(**prefix))
        .map(|prefix| (*prefix, Access::Public))
}

/// SHA-256 of a token, hex: what the configuration stores.
pub fn hash_token(token: &str) -> String {
    ledger::chain::hex(&Sha256::digest(token.as_bytes()).into())
}

/// The configured tokens, by digest. Empty means development mode: every caller is admin.
#[derive(Clone, Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], (String, Caller)>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.by_digest.len())
            .finish()
    }
}

/// A token as written in the configuration file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it, for logs ("county-ops", "clinic-17").
    pub name: String,
    pub role: Role,
    /// Required for the facility role, refused for the others.
    pub facility_id: Option<String>,
    /// SHA-256 of the token, 64 hex digits (`claims-ledger hash-token`).
    pub sha256: String,
}

impl Tokens {
    /// Validates every entry; errors name the entry (`tokens[2].facility_id: ...`).
    pub fn from_entries(entries: &[TokenEntry]) -> Result<Tokens, String> {
        let mut by_digest = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let at = |field: &str| format!("tokens[{i}].{field}");
            let digest =
                ledger::chain::from_hex(&e.sha256).map_err(|r| format!("{}: {r}", at("sha256")))?;
            if digest == <[u8; 32]>::from(Sha256::digest(b"")) {
                return Err(format!(
                    "{}: is the SHA-256 of the empty token; no empty token is accepted",
                    at("sha256")
                ));
            }
            let caller = match (e.role, &e.facility_id) {
                (Role::Facility, Some(f)) => Caller::Facility(
                    f.parse()
                        .map_err(|err| format!("{}: {err}", at("facility_id")))?,
                ),
                (Role::Facility, None) => {
                    return Err(format!(
                        "{}: a facility token must name its facility",
                        at("facility_id")
                    ));
                }
                (_, Some(_)) => {
                    return Err(format!(
                        "{}: only facility tokens are bound to a facility",
                        at("facility_id")
                    ));
                }
                (Role::Admin, None) => Caller::Admin,
                (Role::Insurer, None) => Caller::Insurer,
                (Role::Auditor, None) => Caller::Auditor,
            };
            if by_digest.insert(digest, (e.name.clone(), caller)).is_some() {
                return Err(format!("{}: the same token appears twice", at("sha256")));
            }
        }
        Ok(Tokens { by_digest })
    }

    /// No tokens: development mode.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The caller a request's metadata authenticates, or `UNAUTHENTICATED`.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Caller, Status> {
        if self.is_empty() {
            return Ok(Caller::Admin);
        }
        let unauthenticated = |message: &str| {
            error(
                Code::Unauthenticated,
                "UNAUTHENTICATED",
                "authorization",
                format!("authorization: {message}"),
            )
        };
        let header = authorization
            .ok_or_else(|| unauthenticated("missing; send `authorization: Bearer <token>`"))?;
        let token = std::str::from_utf8(header)
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthenticated("expected `Bearer <token>`"))?
            .trim();
        if token.is_empty() {
            return Err(unauthenticated("the token is empty"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_digest
            .get(&digest)
            .map(|(_, caller)| caller.clone())
            .ok_or_else(|| unauthenticated("unknown token"))
    }
}

/// Refuses a method to a role: `PERMISSION_DENIED` naming both.
pub fn denied(method: &str, role: Role) -> Status {
    error(
        Code::PermissionDenied,
        "ROLE_NOT_ALLOWED",
        "authorization",
        format!("authorization: the {role:?} role may not call {method}"),
    )
}

/// A facility caller may only act for its own facility: `PERMISSION_DENIED` naming the
/// field when `requested` is another one.
pub fn own_facility(caller: &Caller, field: &str, requested: &FacilityId) -> Result<(), Status> {
    match caller.facility() {
        Some(own) if own != requested => Err(error(
            Code::PermissionDenied,
            "OTHER_FACILITY",
            field,
            format!("{field}: this token is bound to facility {own}, not {requested}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(role: Role, facility: Option<&str>, token: &str) -> TokenEntry {
        TokenEntry {
            name: token.into(),
            role,
            facility_id: facility.map(Into::into),
            sha256: hash_token(token),
        }
    }

    #[test]
    fn tokens_authenticate_by_digest() {
        let tokens = Tokens::from_entries(&[
            entry(Role::Insurer, None, "s3cret-insurer"),
            entry(Role::Facility, Some("FAC-1"), "s3cret-clinic"),
        ])
        .unwrap();
        assert_eq!(
            tokens.authenticate(Some(b"Bearer s3cret-insurer")).unwrap(),
            Caller::Insurer
        );
        assert_eq!(
            tokens.authenticate(Some(b"Bearer s3cret-clinic")).unwrap(),
            Caller::Facility("FAC-1".parse().unwrap())
        );
        for bad in [None, Some(&b"Bearer nope"[..]), Some(b"s3cret-insurer")] {
            let status = tokens.authenticate(bad).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert!(status.message().starts_with("authorization: "));
        }
    }

    #[test]
    fn empty_tokens_are_refused_in_the_config_and_in_requests() {
        let err = Tokens::from_entries(&[entry(Role::Admin, None, "")]).unwrap_err();
        assert!(err.starts_with("tokens[0].sha256: "), "{err}");
        let tokens = Tokens::from_entries(&[entry(Role::Admin, None, "t")]).unwrap();
        for empty in [&b"Bearer "[..], b"Bearer    ", b"Bearer \t"] {
            let status = tokens.authenticate(Some(empty)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert!(status.message().contains("empty"), "{}", status.message());
        }
    }

    #[test]
    fn no_tokens_is_development_mode() {
        assert_eq!(Tokens::default().authenticate(None).unwrap(), Caller::Admin);
    }

    #[test]
    fn bad_entries_are_refused_by_field() {
        let cases = [
            (entry(Role::Facility, None, "t"), "tokens[0].facility_id"),
            (
                entry(Role::Auditor, Some("FAC-1"), "t"),
                "tokens[0].facility_id",
            ),
            (
                TokenEntry {
                    sha256: "abc".into(),
                    ..entry(Role::Admin, None, "t")
                },
                "tokens[0].sha256",
            ),
        ];
        for (e, field) in cases {
            let err = Tokens::from_entries(&[e]).unwrap_err();
            assert!(err.starts_with(field), "{err}");
        }
        let twice = Tokens::from_entries(&[
            entry(Role::Admin, None, "t"),
            entry(Role::Auditor, None, "t"),
        ])
        .unwrap_err();
        assert!(twice.starts_with("tokens[1].sha256"), "{twice}");
    }

    #[test]
    fn unknown_paths_are_closed_and_health_is_public() {
        assert_eq!(access("/ledger.v1.LedgerService/DropEverything"), None);
        assert_eq!(
            access("/grpc.health.v1.Health/Check").map(|(_, a)| a),
            Some(Access::Public)
        );
        assert!(!Access::Audit.allows(Role::Insurer));
        assert!(!Access::Command.allows(Role::Auditor));
        assert!(!Access::Admin.allows(Role::Insurer));
    }
}
