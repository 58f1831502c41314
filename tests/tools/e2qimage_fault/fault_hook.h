// Fault injection for functional tests: the e2qimage-fault test binary (a
// build of e2qimage with E2Q_FAULT_HOOK defined, never installed) reads
// the E2Q_FAULT environment variable and wraps every file it opens in a
// FaultFile accordingly.  E2Q_FAULT is a comma-separated list of:
//
//   in:read:ERR:N        read call N (from 0) of each input file and every
//                        later one fail with ERR (EIO, ENOSPC, EFBIG, ...)
//   in:short:BYTES       every read of an input returns at most BYTES
//   out:OP:ERR:N[:PART]  call N of OP (write, sync, truncate) on the output
//                        and every later one fail with ERR; a failing
//                        write first writes PART bytes (a short write),
//                        or with PART = torn the first half of its bytes
//                        (a torn write, as a kill mid-write leaves)
//   out:crash:N          from write N on nothing reaches the output (EIO)
//   out:kill:N           the process kills itself (SIGKILL) at write N
//   dev:kill:N           the process kills itself (SIGKILL) after N writes
//                        to a file opened for update (the device of -R and
//                        -U; their undo file too): at its write N, or at
//                        its next sync once N writes are done -- a kill
//                        after the N-th write of a device, N = 0 before
//                        the first
//   ("out" items apply to files opened for update too.)
//   out:stall:N          write N never returns (a hung disk), so that a
//                        test can interrupt a run that is surely under way
//   report               at exit, print the largest number of reads of one
//                        input and of writes, syncs and truncates of one
//                        output, so that a test can aim at every call
#ifndef E2Q_TESTS_TOOLS_E2QIMAGE_FAULT_FAULT_HOOK_H_
#define E2Q_TESTS_TOOLS_E2QIMAGE_FAULT_FAULT_HOOK_H_

#include <string>

#include "lib/base/status.h"

namespace e2q::cli {

// Parses `spec` (the value of E2Q_FAULT) and installs the interposer.
Status InstallFaultHook(const std::string& spec);
// The "report" line, or "" when it was not asked for.
std::string FaultReport();

}  // namespace e2q::cli

#endif  // E2Q_TESTS_TOOLS_E2QIMAGE_FAULT_FAULT_HOOK_H_
