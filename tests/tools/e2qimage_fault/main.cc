// e2qimage-fault: e2qimage with the E2Q_FAULT hook (fault_hook.h) installed
// before the program runs, for the fault-injection tests; never installed.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "e2qimage/dispatch.h"
#include "tests/tools/e2qimage_fault/fault_hook.h"

int main(int argc, char** argv) {
  if (const char* spec = std::getenv("E2Q_FAULT")) {
    e2q::Status s = e2q::cli::InstallFaultHook(spec);
    if (!s.ok()) {
      fprintf(stderr, "e2qimage: %s\n", s.message().c_str());
      return 2;
    }
  }
  const int rc = e2q::cli::Main(argc, argv);
  const std::string report = e2q::cli::FaultReport();
  if (!report.empty()) fprintf(stderr, "e2qimage: %s\n", report.c_str());
  return rc;
}
