// Warnings: what the command line prints for a problem that does not stop
// the run, in the one form "e2qimage: OBJECT: warning: WHAT".
#ifndef E2Q_E2QIMAGE_WARNING_H_
#define E2Q_E2QIMAGE_WARNING_H_

#include <string>

namespace e2q::cli {

void Warn(const std::string& object, const std::string& what);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_WARNING_H_
