// Info and verify modes: `e2qimage --info IMAGE-FILE` prints an image's
// layout and provenance record; `e2qimage --verify IMAGE-FILE` recomputes
// the content digest and compares it with the recorded one.
#ifndef E2Q_E2QIMAGE_INFO_MODE_H_
#define E2Q_E2QIMAGE_INFO_MODE_H_

#include "e2qimage/options.h"
#include "lib/base/status.h"

namespace e2q::cli {

// Prints the description (format in doc/e2qimage.8, "INFO OUTPUT") to
// standard output.
Status RunInfo(const Options& options);

// OK (after printing "FILE: verify: OK ...") only when the digest matches.
Status RunVerify(const Options& options);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_INFO_MODE_H_
