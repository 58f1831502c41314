// Convert mode: a qcow2 image (any version 2 or 3 image qemu-img writes,
// through its backing chain, optionally at an internal snapshot) -> raw
// sparse file (-r) or a freshly packed qcow2 (-Q).  The raw output equals
// `qemu-img convert -O raw` byte for byte.
#ifndef E2Q_E2QIMAGE_CONVERT_MODE_H_
#define E2Q_E2QIMAGE_CONVERT_MODE_H_

#include <string>
#include <vector>

#include "e2qimage/options.h"
#include "lib/base/status.h"
#include "lib/qcow2/qcow2_snapshot_table.h"

namespace e2q::cli {

// Runs `e2qimage -r|-Q [-l SNAPSHOT] [-z] [-p] IMAGE.qcow2 OUT-FILE`
// (options.args[0] must hold a qcow2 image).  On error no file is left at
// OUT-FILE.
Status RunConvert(const Options& options);

// Resolves a -l argument as `qemu-img convert -l` does: "snapshot.id=ID",
// "snapshot.name=NAME" or both joined by ',' must all match; any other
// string is an ID, or failing that a name.  Returns the index in
// `snapshots`, kNotFound (message naming `image`) when none matches, or
// kInvalidArgument for a malformed "snapshot." option.
Result<size_t> ResolveSnapshot(const std::vector<qcow2::SnapshotEntry>& snapshots,
                               const std::string& spec,
                               const std::string& image);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_CONVERT_MODE_H_
