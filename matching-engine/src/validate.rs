//! Static checks of a new order against its instrument: everything that doesn't need the book.

use protocol::{NewOrder, OrderType, PostOnly, RejectReason, TimeInForce, TimestampNs};

use crate::book::Instrument;

/// Whether an order never rests: market orders, IOC and FOK.
pub(crate) fn is_immediate(order_type: OrderType, tif: TimeInForce) -> bool {
    order_type == OrderType::Market || matches!(tif, TimeInForce::Ioc | TimeInForce::Fok)
}

pub(crate) fn is_stop(order_type: OrderType) -> bool {
    matches!(order_type, OrderType::Stop | OrderType::StopLimit)
}

/// Checks quantity, prices, and the combination of type, time in force, post-only, display
/// quantity and expiry, in that order.
#[inline]
pub(crate) fn check_new_order(
    inst: &Instrument,
    c: &NewOrder,
    now: TimestampNs,
) -> Result<(), RejectReason> {
    // The common case, a plain limit order resting until cancelled or the day's end: only its
    // quantity and price to check (in the same order as below).
    let plain = c.order_type == OrderType::Limit
        && matches!(c.time_in_force, TimeInForce::Gtc | TimeInForce::Day)
        && c.post_only == PostOnly::Off
        && c.display_qty.0 == 0;
    if plain {
        inst.check_qty(c.qty)?;
        return inst.check_price(c.price);
    }
    inst.check_qty(c.qty)?;
    if is_stop(c.order_type) {
        inst.check_price(c.stop_price)
            .map_err(|_| RejectReason::InvalidStopPrice)?;
    }
    if matches!(c.order_type, OrderType::Limit | OrderType::StopLimit) {
        inst.check_price(c.price)?;
    }
    let immediate = is_immediate(c.order_type, c.time_in_force);
    if c.post_only != PostOnly::Off && (immediate || is_stop(c.order_type)) {
        return Err(RejectReason::InvalidOrder);
    }
    if is_stop(c.order_type) && matches!(c.time_in_force, TimeInForce::Ioc | TimeInForce::Fok) {
        return Err(RejectReason::InvalidOrder);
    }
    if c.display_qty.0 != 0 {
        let allowed = !immediate && c.order_type != OrderType::Stop;
        if !allowed || c.display_qty > c.qty || !c.display_qty.0.is_multiple_of(inst.lot_size) {
            return Err(RejectReason::InvalidDisplayQty);
        }
    }
    if c.time_in_force == TimeInForce::Gtd && !immediate && c.expire_time <= now {
        return Err(RejectReason::InvalidExpireTime);
    }
    Ok(())
}
