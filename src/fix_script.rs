//! The little language of `lockstep fix-client`: one request per line, typed at a prompt or
//! read from a file, turned into a FIX 4.4 message (type and body fields). The session's own
//! messages (Logon, heartbeats, resends) are the client's business, not the script's.
//!
//! ```text
//! buy 10 LOCK-USD @ 100.25 [id=ID] [tif=day|gtc|ioc|fok]    a limit order
//! sell 5 LOCK-USD [id=ID] [tif=ioc|fok]                       a market order (no price)
//! cancel ID [id=NEW_ID]                                        OrderCancelRequest (F)
//! replace ID [qty=Q] [price=P] [id=NEW_ID]                    OrderCancelReplaceRequest (G)
//! status ID                                                    OrderStatusRequest (H)
//! mass-cancel [SYMBOL]                                         OrderMassCancelRequest (q)
//! raw 35=D|11=x|55=LOCK-USD|...                               any message, '|' for SOH
//! # a comment; blank lines are skipped
//! ```

use std::collections::BTreeMap;

/// One scripted request: the FIX message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub msg_type: String,
    pub fields: Vec<(u32, String)>,
}

/// What an order remembers for cancels and replaces: symbol, side, quantity, price.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placed {
    symbol: String,
    side: &'static str,
    qty: String,
    price: Option<String>,
}

/// Turns lines into requests, naming orders `c-1`, `c-2`, ... unless told otherwise.
#[derive(Debug, Default)]
pub struct Script {
    next_id: u64,
    orders: BTreeMap<String, Placed>,
}

/// Why a line is not a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError(String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

fn bad(text: impl Into<String>) -> ScriptError {
    ScriptError(text.into())
}

/// Orders remembered for cancels and replaces, at most.
const ORDERS_KEPT_MAX: usize = 100_000;

impl Script {
    /// A script whose generated ids start at `c-1`.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The request a line asks for; `Ok(None)` for a blank line or a comment.
    pub fn parse(&mut self, line: &str) -> Result<Option<Request>, ScriptError> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let words: Vec<&str> = rest.split_whitespace().collect();
        let request = match verb {
            "buy" => self.order("1", &words)?,
            "sell" => self.order("2", &words)?,
            "cancel" => self.cancel(&words)?,
            "replace" => self.replace(&words)?,
            "status" => self.status(&words)?,
            "mass-cancel" => mass_cancel(&words)?,
            "raw" => raw(rest)?,
            other => return Err(bad(format!("unknown request {other:?} (see --help)"))),
        };
        Ok(Some(request))
    }

    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("c-{}", self.next_id)
    }

    fn order(&mut self, side: &'static str, words: &[&str]) -> Result<Request, ScriptError> {
        let (positional, options) = split_options(words)?;
        let (qty, symbol, price) = match positional.as_slice() {
            [qty, symbol] => (*qty, *symbol, None),
            [qty, symbol, "@", price] => (*qty, *symbol, Some(*price)),
            _ => {
                return Err(bad(
                    "expected: buy|sell QTY SYMBOL [@ PRICE] [id=..] [tif=..]",
                ));
            }
        };
        number(qty, "quantity")?;
        if let Some(price) = price {
            number(price, "price")?;
        }
        let tif = match options.get("tif").map_or("day", String::as_str) {
            "day" => "0",
            "gtc" => "1",
            "ioc" => "3",
            "fok" => "4",
            other => return Err(bad(format!("tif {other:?}: day, gtc, ioc or fok"))),
        };
        let id = options
            .get("id")
            .cloned()
            .unwrap_or_else(|| self.fresh_id());
        let mut fields = vec![
            (11, id.clone()),
            (55, symbol.to_owned()),
            (54, side.to_owned()),
            (38, qty.to_owned()),
            (40, if price.is_some() { "2" } else { "1" }.to_owned()),
            (59, tif.to_owned()),
        ];
        if let Some(price) = price {
            fields.push((44, price.to_owned()));
        }
        if self.orders.len() < ORDERS_KEPT_MAX {
            let placed = Placed {
                symbol: symbol.to_owned(),
                side,
                qty: qty.to_owned(),
                price: price.map(str::to_owned),
            };
            self.orders.insert(id, placed);
        }
        Ok(request("D", fields))
    }

    fn known(&self, id: &str) -> Result<Placed, ScriptError> {
        self.orders
            .get(id)
            .cloned()
            .ok_or_else(|| bad(format!("no order {id:?} placed by this script")))
    }

    fn cancel(&mut self, words: &[&str]) -> Result<Request, ScriptError> {
        let (positional, options) = split_options(words)?;
        let [orig] = positional.as_slice() else {
            return Err(bad("expected: cancel ID [id=NEW_ID]"));
        };
        let placed = self.known(orig)?;
        let id = options
            .get("id")
            .cloned()
            .unwrap_or_else(|| self.fresh_id());
        let fields = vec![
            (11, id),
            (41, (*orig).to_owned()),
            (55, placed.symbol),
            (54, placed.side.to_owned()),
        ];
        Ok(request("F", fields))
    }

    fn replace(&mut self, words: &[&str]) -> Result<Request, ScriptError> {
        let (positional, options) = split_options(words)?;
        let [orig] = positional.as_slice() else {
            return Err(bad("expected: replace ID [qty=Q] [price=P] [id=NEW_ID]"));
        };
        let mut placed = self.known(orig)?;
        if let Some(qty) = options.get("qty") {
            number(qty, "quantity")?;
            placed.qty.clone_from(qty);
        }
        if let Some(price) = options.get("price") {
            number(price, "price")?;
            placed.price = Some(price.clone());
        }
        let id = options
            .get("id")
            .cloned()
            .unwrap_or_else(|| self.fresh_id());
        let mut fields = vec![
            (11, id.clone()),
            (41, (*orig).to_owned()),
            (55, placed.symbol.clone()),
            (54, placed.side.to_owned()),
            (38, placed.qty.clone()),
            (
                40,
                if placed.price.is_some() { "2" } else { "1" }.to_owned(),
            ),
        ];
        if let Some(price) = &placed.price {
            fields.push((44, price.clone()));
        }
        if self.orders.len() < ORDERS_KEPT_MAX {
            self.orders.insert(id, placed);
        }
        Ok(request("G", fields))
    }

    fn status(&mut self, words: &[&str]) -> Result<Request, ScriptError> {
        let [id] = words else {
            return Err(bad("expected: status ID"));
        };
        let placed = self.known(id)?;
        let fields = vec![
            (11, (*id).to_owned()),
            (55, placed.symbol),
            (54, placed.side.to_owned()),
        ];
        Ok(request("H", fields))
    }
}

fn request(msg_type: &str, fields: Vec<(u32, String)>) -> Request {
    Request {
        msg_type: msg_type.to_owned(),
        fields,
    }
}

fn mass_cancel(words: &[&str]) -> Result<Request, ScriptError> {
    let mut fields = vec![(11, "mass-cancel".to_owned())];
    match words {
        [] => fields.push((530, "7".to_owned())),
        [symbol] => fields.extend([(530, "1".to_owned()), (55, (*symbol).to_owned())]),
        _ => return Err(bad("expected: mass-cancel [SYMBOL]")),
    }
    Ok(request("q", fields))
}

fn raw(text: &str) -> Result<Request, ScriptError> {
    let mut msg_type = None;
    let mut fields = Vec::new();
    for pair in text.trim().split('|').filter(|p| !p.is_empty()) {
        let (tag, value) = pair
            .split_once('=')
            .ok_or_else(|| bad(format!("{pair:?} is not TAG=VALUE")))?;
        let tag: u32 = tag
            .parse()
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| bad(format!("{tag:?} is not a tag number")))?;
        if value.is_empty() {
            return Err(bad(format!("tag {tag}: an empty value")));
        }
        match tag {
            35 => msg_type = Some(value.to_owned()),
            8 | 9 | 10 | 34 | 49 | 52 | 56 => {
                return Err(bad(format!("tag {tag} is the session's to set")));
            }
            _ => fields.push((tag, value.to_owned())),
        }
    }
    let msg_type = msg_type.ok_or_else(|| bad("raw needs 35=<MsgType>"))?;
    Ok(Request { msg_type, fields })
}

/// Splits `key=value` options from positional words.
fn split_options<'a>(
    words: &[&'a str],
) -> Result<(Vec<&'a str>, BTreeMap<&'a str, String>), ScriptError> {
    let mut positional = Vec::new();
    let mut options = BTreeMap::new();
    for word in words {
        match word.split_once('=') {
            Some((key @ ("id" | "tif" | "qty" | "price"), value)) if !value.is_empty() => {
                options.insert(key, value.to_owned());
            }
            Some(_) => return Err(bad(format!("option {word:?}: id, tif, qty or price"))),
            None => positional.push(*word),
        }
    }
    Ok((positional, options))
}

fn number(text: &str, what: &str) -> Result<(), ScriptError> {
    let ok = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.matches('.').count() <= 1;
    if ok {
        Ok(())
    } else {
        Err(bad(format!("{what} {text:?} is not a decimal number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(script: &mut Script, line: &str, expected: &str) {
        let got = match script.parse(line) {
            Ok(Some(r)) => {
                let fields: Vec<String> =
                    r.fields.iter().map(|(t, v)| format!("{t}={v}")).collect();
                format!("{} {}", r.msg_type, fields.join("|"))
            }
            Ok(None) => "-".to_owned(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "{line}");
    }

    #[test]
    fn lines_become_fix_requests() {
        let mut s = Script::new();
        check(&mut s, "  # a comment", "-");
        check(&mut s, "", "-");
        check(
            &mut s,
            "buy 10 LOCK-USD @ 100.25",
            "D 11=c-1|55=LOCK-USD|54=1|38=10|40=2|59=0|44=100.25",
        );
        check(
            &mut s,
            "sell 5 LOCK-USD tif=ioc id=s1",
            "D 11=s1|55=LOCK-USD|54=2|38=5|40=1|59=3",
        );
        check(
            &mut s,
            "replace c-1 qty=4",
            "G 11=c-2|41=c-1|55=LOCK-USD|54=1|38=4|40=2|44=100.25",
        );
        check(&mut s, "cancel c-2", "F 11=c-3|41=c-2|55=LOCK-USD|54=1");
        check(&mut s, "status c-1", "H 11=c-1|55=LOCK-USD|54=1");
        check(&mut s, "mass-cancel", "q 11=mass-cancel|530=7");
        check(
            &mut s,
            "mass-cancel LOCK-USD",
            "q 11=mass-cancel|530=1|55=LOCK-USD",
        );
        check(&mut s, "raw 35=H|11=x|55=Y|54=1", "H 11=x|55=Y|54=1");
    }

    #[test]
    fn bad_lines_are_explained_not_sent() {
        let mut s = Script::new();
        check(
            &mut s,
            "hold 1",
            "error: unknown request \"hold\" (see --help)",
        );
        check(
            &mut s,
            "buy ten LOCK-USD @ 1",
            "error: quantity \"ten\" is not a decimal number",
        );
        check(
            &mut s,
            "buy 1 X @ 1 tif=gtd",
            "error: tif \"gtd\": day, gtc, ioc or fok",
        );
        check(
            &mut s,
            "buy 1 X @",
            "error: expected: buy|sell QTY SYMBOL [@ PRICE] [id=..] [tif=..]",
        );
        check(
            &mut s,
            "cancel nope",
            "error: no order \"nope\" placed by this script",
        );
        check(
            &mut s,
            "buy 1 X colour=red",
            "error: option \"colour=red\": id, tif, qty or price",
        );
        check(&mut s, "raw 11=x", "error: raw needs 35=<MsgType>");
        check(
            &mut s,
            "raw 35=D|34=9",
            "error: tag 34 is the session's to set",
        );
        check(&mut s, "raw 35=D|x=1", "error: \"x\" is not a tag number");
    }
}
