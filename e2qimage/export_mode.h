// Export mode: DEVICE (an ext2/3/4 filesystem) -> raw or qcow2 image,
// through the library's export engine (lib/image/export.h).
#ifndef E2Q_E2QIMAGE_EXPORT_MODE_H_
#define E2Q_E2QIMAGE_EXPORT_MODE_H_

#include <vector>

#include "e2qimage/options.h"
#include "lib/base/status.h"
#include "lib/image/export.h"

namespace e2q::cli {

// Runs `e2qimage -r|-Q [...] DEVICE IMAGE-FILE`.  Warnings (what could not
// be read on a damaged filesystem) go to stderr; errors are returned.
Status RunExport(const Options& options);

// -z / --compress / --threads as the engine takes them.
image::CompressOptions CompressOptionsOf(const Options& options);

// Prints each warning (cli::Warn).
void PrintWarnings(const std::vector<image::Warning>& warnings);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_EXPORT_MODE_H_
