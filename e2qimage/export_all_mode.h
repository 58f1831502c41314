// -X: the command line's side of the inverted export
// (snapshot/inverted_export.h): checks, the device, the output, warnings
// and progress.
#ifndef E2Q_E2QIMAGE_EXPORT_ALL_MODE_H_
#define E2Q_E2QIMAGE_EXPORT_ALL_MODE_H_

#include "e2qimage/options.h"
#include "lib/base/status.h"

namespace e2q::cli {

// Runs `e2qimage -Q -X [-a] [-z] [-s] DEVICE IMAGE-FILE`.
Status RunExportAll(const Options& options);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_EXPORT_ALL_MODE_H_
