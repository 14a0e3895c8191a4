//! The decide step of `RecordStockVisit` (Informed Push Model): the visit's product and unit
//! price come from the price list of the facility's scheme valid on the visit date; a price
//! the request gives must be that one.

use ledger::event::{Event, StockVisitRecorded};
use ledger::ids::{Code, FacilityId};
use ledger::{Amount, Date, FieldError, StreamId};
use projections::Projections;

use crate::command::{Decided, Rejection, decided};

/// A stock visit, as the command gives it.
pub struct Visit<'a> {
    pub facility_id: &'a FacilityId,
    pub product_code: &'a Code,
    pub visited_on: Date,
    pub stock_found: u64,
    pub losses: u64,
    pub delivered: u64,
    pub unit_price: Option<Amount>,
}

pub fn record_stock_visit(p: &Projections, v: &Visit<'_>) -> Result<Decided, Rejection> {
    let price = list_price(p, v)?;
    if let Some(asked) = v.unit_price
        && asked != price
    {
        return Err(Rejection::Invalid(FieldError::new(
            "unit_price",
            format!(
                "{asked} is not {price}, the price of {} on {} in the facility's price list",
                v.product_code, v.visited_on
            ),
        )));
    }
    Ok(decided(vec![ledger::log::NewEvent {
        stream: StreamId::facility(v.facility_id),
        event: Event::StockVisitRecorded(StockVisitRecorded {
            facility_id: v.facility_id.clone(),
            product_code: v.product_code.clone(),
            visited_on: v.visited_on,
            stock_found: v.stock_found,
            losses: v.losses,
            delivered: v.delivered,
            unit_price: price,
        }),
    }]))
}

/// The price of the visit's product on the visit date, in the price list of the facility in
/// the version of its scheme in force that day.
fn list_price(p: &Projections, v: &Visit<'_>) -> Result<Amount, Rejection> {
    let scheme_id = p
        .registry
        .schemes
        .iter()
        .find(|(_, versions)| {
            versions
                .last()
                .is_some_and(|s| s.scheme.facilities.contains_key(v.facility_id))
        })
        .map(|(id, _)| id.clone())
        .ok_or_else(|| Rejection::UnknownFacility(v.facility_id.clone()))?;
    let published = p
        .registry
        .scheme_on(&scheme_id, v.visited_on)
        .ok_or_else(|| Rejection::SchemeNotInForce {
            scheme: scheme_id.clone(),
            field: "visited_on",
            on: v.visited_on,
        })?;
    let scheme = &published.scheme;
    scheme
        .facilities
        .get(v.facility_id)
        .and_then(|f| scheme.price_lists.get(&f.price_list))
        .and_then(|list| list.price(v.product_code, v.visited_on))
        .ok_or_else(|| {
            Rejection::Invalid(FieldError::new(
                "product_code",
                format!(
                    "{} has no price on {} in the price list of facility {}",
                    v.product_code, v.visited_on, v.facility_id
                ),
            ))
        })
}
