// List mode: `e2qimage -L DEVICE` prints the next3 snapshots of DEVICE.
#ifndef E2Q_E2QIMAGE_LIST_MODE_H_
#define E2Q_E2QIMAGE_LIST_MODE_H_

#include "e2qimage/options.h"
#include "lib/base/status.h"

namespace e2q::cli {

// Prints one line per listed snapshot, newest first, on stdout:
// "ID INODE STATUS NAME" (STATUS active|frozen|deleted|shrunk, NAME the
// snapshot file's path or "-").  Nothing for a filesystem without
// snapshots.
Status RunList(const Options& options);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_LIST_MODE_H_
