"""An independent FIX engine (QuickFIX, with its FIX 4.4 data dictionary validating every message
the gateway sends) logs on to `lockstep gateway`, places, replaces and cancels an order, sends
one the venue must refuse, and checks the execution reports. Exit status 0 means all held.

Usage: quickfix_client.py PORT WORKDIR
"""

import os
import queue
import sys
import threading

import quickfix as fix

TIMEOUT_S = 20


class Client(fix.Application):
    def __init__(self):
        super().__init__()
        self.logged_on = threading.Event()
        self.reports = queue.Queue()
        self.rejects = queue.Queue()
        self.session = None

    def onCreate(self, session):
        self.session = session

    def onLogon(self, session):
        self.logged_on.set()

    def onLogout(self, session):
        pass

    def toAdmin(self, message, session):
        if message.getHeader().getField(35) == "3":
            self.rejects.put(message.toString().replace("\x01", "|"))

    def fromAdmin(self, message, session):
        if message.getHeader().getField(35) == "3":
            self.rejects.put("gateway rejected: " + message.toString().replace("\x01", "|"))

    def toApp(self, message, session):
        pass

    def fromApp(self, message, session):
        fields = {}
        text = message.toString()
        for pair in text.split("\x01"):
            if "=" in pair:
                tag, value = pair.split("=", 1)
                fields.setdefault(int(tag), value)
        self.reports.put(fields)


def settings(port, workdir):
    dictionary = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
    text = f"""[DEFAULT]
ConnectionType=initiator
ReconnectInterval=1
FileStorePath={workdir}/store
FileLogPath={workdir}/log
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={dictionary}
HeartBtInt=5
ResetOnLogon=Y

[SESSION]
BeginString=FIX.4.4
SenderCompID=CLIENT1
TargetCompID=LOCKSTEP
SocketConnectHost=127.0.0.1
SocketConnectPort={port}
"""
    path = os.path.join(workdir, "quickfix.cfg")
    with open(path, "w") as f:
        f.write(text)
    return fix.SessionSettings(path)


def order(msg_type, cl_ord_id, **fields):
    message = fix.Message()
    message.getHeader().setField(fix.MsgType(msg_type))
    message.setField(fix.ClOrdID(cl_ord_id))
    message.setField(fix.Symbol(fields.get("symbol", "LOCK-USD")))
    message.setField(fix.Side(fix.Side_BUY))
    message.setField(fix.TransactTime())
    if "orig" in fields:
        message.setField(fix.OrigClOrdID(fields["orig"]))
    if msg_type != fix.MsgType_OrderCancelRequest:
        message.setField(fix.OrdType(fix.OrdType_LIMIT))
        message.setField(fix.OrderQty(fields["qty"]))
        message.setField(fix.Price(fields["price"]))
        message.setField(fix.TimeInForce(fix.TimeInForce_GOOD_TILL_CANCEL))
    return message


def expect(client, what, **want):
    try:
        report = client.reports.get(timeout=TIMEOUT_S)
    except queue.Empty:
        rejects = []
        while not client.rejects.empty():
            rejects.append(client.rejects.get())
        sys.exit(f"FAIL: no execution report for {what}; session rejects: {rejects}")
    for tag, value in want.items():
        number = int(tag[1:])
        if report.get(number) != value:
            sys.exit(f"FAIL: {what}: tag {number} is {report.get(number)!r}, expected {value!r}: {report}")
    print(f"ok: {what}: ExecType {report.get(150)} OrdStatus {report.get(39)} ExecID {report.get(17)}")
    return report


def main():
    port, workdir = int(sys.argv[1]), sys.argv[2]
    client = Client()
    config = settings(port, workdir)
    initiator = fix.SocketInitiator(
        client, fix.FileStoreFactory(config), config, fix.FileLogFactory(config)
    )
    initiator.start()
    try:
        if not client.logged_on.wait(TIMEOUT_S):
            sys.exit("FAIL: no logon")
        print("ok: logged on")
        send = lambda m: fix.Session.sendToTarget(m, client.session)
        send(order(fix.MsgType_NewOrderSingle, "q-1", qty=10, price=10000.25))
        expect(client, "new order", t11="q-1", t150="0", t39="0", t44="10000.25")
        send(order(fix.MsgType_OrderCancelReplaceRequest, "q-2", orig="q-1", qty=12, price=9999.5))
        expect(client, "replace", t11="q-2", t41="q-1", t150="5", t38="12")
        send(order(fix.MsgType_OrderCancelRequest, "q-3", orig="q-2"))
        expect(client, "cancel", t11="q-3", t41="q-2", t150="4", t39="4")
        send(order(fix.MsgType_NewOrderSingle, "q-4", symbol="NOPE", qty=1, price=1))
        expect(client, "unknown symbol", t11="q-4", t150="8", t103="1")
        if not client.rejects.empty():
            sys.exit(f"FAIL: session-level rejects: {client.rejects.get()}")
        print("OK")
    finally:
        initiator.stop()


if __name__ == "__main__":
    main()
