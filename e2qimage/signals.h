// Signal handling: an interrupted run (SIGINT, SIGTERM, SIGHUP) removes the
// output's temporary file, so no partial file is ever left behind, and
// then dies of the same signal, so that the shell sees the interruption
// (exit status 130, 143, 129) and a loop of runs stops.  SIGPIPE and
// SIGXFSZ are ignored: a closed pipe or the file size limit is a write
// error like any other.
#ifndef E2Q_E2QIMAGE_SIGNALS_H_
#define E2Q_E2QIMAGE_SIGNALS_H_

#include <string>

namespace e2q::cli {

void InstallSignalHandlers();
// The temporary file to unlink if a signal arrives ("" = none).
void RegisterTempFile(const std::string& path);
void UnregisterTempFile();

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_SIGNALS_H_
