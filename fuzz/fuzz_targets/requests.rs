//! gRPC request bytes, as a client sends them: any bytes decode to a request or not (prost),
//! and a request converts to a command or to INVALID_ARGUMENT naming a field, never a
//! panic; a command is decided against a small iPUSH ledger and whatever is decided applies.
#![no_main]

use claims_ledger::command::Command;
use claims_ledger::api::requests;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use proto::v1 as pb;
use tonic::{Code, Status};

#[path = "small_ledger.rs"]
mod small_ledger;

/// The request decoded from `bytes` and converted, if it decodes.
fn convert<R: Message + Default>(
    bytes: &[u8],
    to_command: impl Fn(&R) -> Result<Command, Status>,
) -> Option<Result<Command, Status>> {
    R::decode(bytes).ok().map(|r| to_command(&r))
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let today = ledger::Date::from_ymd_opt(2026, 3, 1).unwrap_or(ledger::Date::MIN);
    let converted = match kind % 12 {
        0 => convert(bytes, requests::publish_scheme),
        1 => convert(bytes, requests::register_household),
        2 => convert(bytes, requests::enroll_member),
        3 => convert(bytes, requests::record_contribution),
        4 => convert(bytes, requests::pay_premium),
        5 => convert(bytes, |r: &pb::SubmitClaimRequest| {
            requests::submit_claim(r, today, kind & 0x80 != 0)
        }),
        6 => convert(bytes, requests::review_claim),
        7 => convert(bytes, requests::reverse_claim),
        8 => convert(bytes, requests::record_copayment),
        9 => convert(bytes, requests::record_stock_visit),
        10 => convert(bytes, requests::close_payment_period),
        _ => convert(bytes, requests::record_facility_payout),
    };
    match converted {
        None => {}
        Some(Err(status)) => {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().contains(':'), "no field: {status:?}");
        }
        Some(Ok(command)) => {
            let mut p = small_ledger::base().clone();
            small_ledger::apply(&mut p, &command);
        }
    }
});
