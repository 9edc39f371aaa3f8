//! Read-only views of the books for audit and replay: the instruments defined, and one book as
//! price levels (L2) and as orders in queue order (L3). Nothing here changes state or the hash;
//! views are built on demand (they allocate) and are not on the matching path.

use protocol::{
    AccountId, ClientOrderId, InstrumentId, OrderId, Price, Qty, SessionId, Side, Symbol,
};

use crate::book::Book;
use crate::engine::Engine;
use crate::levels::BookSide;

/// One price level: what L2 market data shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelView {
    pub price: Price,
    /// Total displayed quantity (iceberg reserves excluded).
    pub qty: Qty,
    pub order_count: u32,
}

/// One resting order, in its level's queue (front first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderView {
    pub order_id: OrderId,
    pub client_order_id: ClientOrderId,
    pub session: SessionId,
    pub account: AccountId,
    pub side: Side,
    pub price: Price,
    /// Displayed quantity (less than `leaves_qty` for an iceberg).
    pub visible_qty: Qty,
    pub leaves_qty: Qty,
    pub cum_qty: Qty,
}

/// One instrument's book: levels best first on each side, and the resting orders of each level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookView {
    pub instrument: InstrumentId,
    pub symbol: Symbol,
    /// The last trade price, if the instrument has traded.
    pub last_trade: Option<Price>,
    /// Bid levels, highest price first.
    pub bids: Vec<LevelView>,
    /// Ask levels, lowest price first.
    pub asks: Vec<LevelView>,
    /// Resting bid orders, best level first, then queue order.
    pub bid_orders: Vec<OrderView>,
    /// Resting ask orders, best level first, then queue order.
    pub ask_orders: Vec<OrderView>,
    /// Stop orders waiting for their trigger (not in the book).
    pub pending_stops: u32,
}

impl Engine {
    /// The instruments defined so far, in definition order.
    #[must_use]
    pub fn instruments(&self) -> Vec<(InstrumentId, Symbol)> {
        self.books
            .iter()
            .map(|b| (b.instrument.id, b.instrument.symbol))
            .collect()
    }

    /// The book of `instrument` (L2 and L3), or `None` if it is not defined.
    #[must_use]
    pub fn book_view(&self, instrument: InstrumentId) -> Option<BookView> {
        let slot = self.book_slot(instrument)?;
        let book = &self.books[slot as usize];
        let (bids, bid_orders) = self.side_view(book, &book.bids);
        let (asks, ask_orders) = self.side_view(book, &book.asks);
        let pending_stops = self
            .pool
            .live_slots()
            .filter(|&s| {
                self.pool.slots[s as usize].links.book() == slot
                    && self.pool.get(s).state == crate::pool::OrderState::PendingStop
            })
            .count();
        Some(BookView {
            instrument,
            symbol: book.instrument.symbol,
            last_trade: book.last_trade,
            bids,
            asks,
            bid_orders,
            ask_orders,
            pending_stops: u32::try_from(pending_stops).expect("bounded by orders_max"),
        })
    }

    fn side_view(&self, book: &Book, side: &BookSide) -> (Vec<LevelView>, Vec<OrderView>) {
        let mut levels = Vec::new();
        let mut orders = Vec::new();
        for index in side.levels_best_first() {
            let level = side.level(index);
            let price = book.instrument.price(index);
            levels.push(LevelView {
                price,
                qty: Qty(level.qty),
                order_count: level.count,
            });
            for slot in side.queue(&self.pool, index) {
                let o = self.pool.get(slot);
                orders.push(OrderView {
                    order_id: o.id,
                    client_order_id: o.client_order_id,
                    session: o.session,
                    account: o.account,
                    side: o.side,
                    price,
                    visible_qty: o.visible,
                    leaves_qty: o.leaves,
                    cum_qty: o.cum,
                });
            }
        }
        (levels, orders)
    }
}

#[cfg(test)]
mod tests {
    use protocol::{
        Command, DefineInstrument, NewOrder, OrderType, Origin, PostOnly, RequestId, Sequenced,
        TimeInForce, TimestampNs,
    };

    use super::*;
    use crate::EngineConfig;

    fn engine_with_orders() -> Engine {
        let mut engine = Engine::new(EngineConfig {
            orders_max: 64,
            instruments_max: 2,
            accounts_max: 8,
            price_levels_max: 1024,
        });
        let origin = |r| Origin {
            session: SessionId(1),
            account: AccountId(1),
            request_id: RequestId(r),
        };
        let define = Command::DefineInstrument(DefineInstrument {
            origin: origin(1),
            symbol: Symbol::new("ABC").unwrap(),
            tick_size: 1,
            lot_size: 1,
            min_price: Price(100),
            max_price: Price(200),
            min_qty: Qty(1),
            max_qty: Qty(1000),
            reference_price: Price(150),
            instrument: InstrumentId(7),
        });
        let order = |r: u64, side, price, qty| {
            Command::NewOrder(NewOrder {
                origin: origin(r),
                instrument: InstrumentId(7),
                side,
                order_type: OrderType::Limit,
                time_in_force: TimeInForce::Gtc,
                post_only: PostOnly::Off,
                client_order_id: ClientOrderId(r),
                price: Price(price),
                stop_price: Price(0),
                qty: Qty(qty),
                display_qty: Qty(0),
                expire_time: TimestampNs(0),
            })
        };
        let commands = [
            define,
            order(2, Side::Buy, 140, 5),
            order(3, Side::Buy, 145, 7),
            order(4, Side::Buy, 145, 3),
            order(5, Side::Sell, 160, 9),
        ];
        let mut out = Vec::new();
        for (i, command) in commands.into_iter().enumerate() {
            let seq = i as u64 + 1;
            engine.apply(
                &Sequenced {
                    seq: protocol::Seq(seq),
                    timestamp: TimestampNs(seq),
                    command,
                },
                &mut out,
            );
        }
        engine
    }

    #[test]
    fn a_book_view_lists_levels_best_first_and_orders_in_queue_order() {
        let engine = engine_with_orders();
        assert_eq!(
            engine.instruments(),
            vec![(InstrumentId(7), Symbol::new("ABC").unwrap())]
        );
        let view = engine.book_view(InstrumentId(7)).unwrap();
        let level = |price, qty, order_count| LevelView {
            price: Price(price),
            qty: Qty(qty),
            order_count,
        };
        assert_eq!(view.bids, vec![level(145, 10, 2), level(140, 5, 1)]);
        assert_eq!(view.asks, vec![level(160, 9, 1)]);
        let ids: Vec<_> = view
            .bid_orders
            .iter()
            .map(|o| o.client_order_id.0)
            .collect();
        assert_eq!(ids, vec![3, 4, 2]);
        assert_eq!(view.ask_orders[0].leaves_qty, Qty(9));
        assert_eq!(view.pending_stops, 0);
        assert_eq!(view.last_trade, None);
        assert!(engine.book_view(InstrumentId(8)).is_none());
    }
}
