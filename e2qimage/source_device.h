// The DEVICE of the modes that read a filesystem (exports, -x, -X, -L):
// the file itself, or the guest content of a qcow2 disk image, narrowed to
// the filesystem inside it by --partition (MBR or GPT) or --offset.
#ifndef E2Q_E2QIMAGE_SOURCE_DEVICE_H_
#define E2Q_E2QIMAGE_SOURCE_DEVICE_H_

#include <memory>

#include "e2qimage/options.h"
#include "lib/base/status.h"
#include "lib/io/file.h"

namespace e2q::cli {

// True when DEVICE is a disk image with the filesystem inside it
// (--offset or --partition): then a qcow2 DEVICE is read as a VM's disk,
// not converted.
bool ReadsInsideDisk(const Options& o);

// Opens o.args[0] read-only as the filesystem to read.  A qcow2 image is
// read through its guest content (its backing chain; -l selects an
// internal snapshot); then --partition N or --offset BYTES picks the
// filesystem's bytes.  The File keeps DEVICE's name.  Errors name DEVICE:
// no such partition, a damaged table, an offset past the end, a qcow2
// image that cannot be read (a missing backing file).
Result<std::unique_ptr<io::File>> OpenSourceDevice(const Options& o);

// `file` paced by --rate-limit (one limiter for the whole run, shared by
// every file passed here), or `file` itself without it.
std::unique_ptr<io::File> Paced(const Options& o,
                                std::unique_ptr<io::File> file);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_SOURCE_DEVICE_H_
