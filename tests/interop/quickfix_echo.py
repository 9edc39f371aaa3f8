"""A bare QuickFIX acceptor that answers every NewOrderSingle with an ExecutionReport (New):
the baseline the gateway benchmark compares order -> ack latency against. Runs until killed.

Usage: quickfix_echo.py PORT WORKDIR
"""

import os
import sys
import threading

import quickfix as fix


class Echo(fix.Application):
    def __init__(self):
        super().__init__()
        self.exec_id = 0

    def onCreate(self, session):
        pass

    def onLogon(self, session):
        pass

    def onLogout(self, session):
        pass

    def toAdmin(self, message, session):
        pass

    def fromAdmin(self, message, session):
        pass

    def toApp(self, message, session):
        pass

    def fromApp(self, message, session):
        if message.getHeader().getField(35) != "D":
            return
        self.exec_id += 1
        report = fix.Message()
        report.getHeader().setField(fix.MsgType(fix.MsgType_ExecutionReport))
        report.setField(fix.OrderID(str(self.exec_id)))
        report.setField(fix.ExecID(str(self.exec_id)))
        report.setField(fix.ClOrdID(message.getField(11)))
        report.setField(fix.ExecType(fix.ExecType_NEW))
        report.setField(fix.OrdStatus(fix.OrdStatus_NEW))
        report.setField(fix.Symbol(message.getField(55)))
        report.setField(fix.Side(message.getField(54)))
        report.setField(fix.LeavesQty(float(message.getField(38))))
        report.setField(fix.CumQty(0))
        report.setField(fix.AvgPx(0))
        fix.Session.sendToTarget(report, session)


def main():
    port, workdir = int(sys.argv[1]), sys.argv[2]
    dictionary = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
    path = os.path.join(workdir, "echo.cfg")
    with open(path, "w") as f:
        f.write(f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={port}
FileStorePath={workdir}/echo-store
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={dictionary}

[SESSION]
BeginString=FIX.4.4
SenderCompID=LOCKSTEP
TargetCompID=CLIENT1
""")
    config = fix.SessionSettings(path)
    acceptor = fix.SocketAcceptor(Echo(), fix.FileStoreFactory(config), config, fix.ScreenLogFactory(False, False, False))
    acceptor.start()
    print("listening", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
