// A bare QuickFIX C++ acceptor that answers every NewOrderSingle with an ExecutionReport (New):
// the baseline the gateway benchmark compares order -> ack latency against (the FIX issue's
// "bare QuickFIX C++ echo acceptor"). The same session settings as quickfix_echo.py (file
// store, data dictionary). Runs until killed.
//
// Build: g++ -O2 -std=c++14 quickfix_echo.cpp -lquickfix -lpthread (Debian: libquickfix-dev)
// Usage: quickfix_echo PORT WORKDIR DICTIONARY

#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/fix44/ExecutionReport.h>
#include <quickfix/fix44/NewOrderSingle.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

class Echo : public FIX::Application {
public:
  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID&) override {}
  void onLogout(const FIX::SessionID&) override {}
  void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
  // QuickFIX 1.15 declares dynamic exception specifications (hence C++14), which overrides
  // must repeat.
  void fromAdmin(const FIX::Message&, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {}
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}

  void fromApp(const FIX::Message& message, const FIX::SessionID& session) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) override {
    FIX::MsgType type;
    message.getHeader().getField(type);
    if (type != FIX::MsgType_NewOrderSingle) {
      return;
    }
    ++exec_id_;
    const std::string number = std::to_string(exec_id_);
    FIX::ClOrdID cl_ord_id;
    FIX::Symbol symbol;
    FIX::Side side;
    FIX::OrderQty qty;
    message.getField(cl_ord_id);
    message.getField(symbol);
    message.getField(side);
    message.getField(qty);
    FIX44::ExecutionReport report{FIX::OrderID{number}, FIX::ExecID{number},
                                  FIX::ExecType{FIX::ExecType_NEW},
                                  FIX::OrdStatus{FIX::OrdStatus_NEW}, side,
                                  FIX::LeavesQty{qty}, FIX::CumQty{0}, FIX::AvgPx{0}};
    report.set(cl_ord_id);
    report.set(symbol);
    FIX::Session::sendToTarget(report, session);
  }

private:
  unsigned long exec_id_ = 0;
};

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: quickfix_echo PORT WORKDIR DICTIONARY\n";
    return 2;
  }
  const std::string port = argv[1], workdir = argv[2], dictionary = argv[3];
  const std::string path = workdir + "/echo-cpp.cfg";
  {
    std::ofstream cfg(path);
    cfg << "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptPort=" << port
        << "\nFileStorePath=" << workdir << "/echo-cpp-store\nStartTime=00:00:00\n"
        << "EndTime=00:00:00\nUseDataDictionary=Y\nDataDictionary=" << dictionary
        << "\n\n[SESSION]\nBeginString=FIX.4.4\nSenderCompID=LOCKSTEP\nTargetCompID=CLIENT1\n";
  }
  try {
    FIX::SessionSettings settings(path);
    Echo echo;
    FIX::FileStoreFactory store(settings);
    FIX::SocketAcceptor acceptor(echo, store, settings);
    acceptor.start();
    std::cout << "listening" << std::endl;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::hours(1));
    }
  } catch (const std::exception& e) {
    std::cerr << "quickfix_echo: " << e.what() << "\n";
    return 1;
  }
}
