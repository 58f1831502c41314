// Refusals made before any work, so that a refused run touches nothing:
// an output that is one of the run's inputs (the source, its qcow2 backing
// chain, a --backing base and its chain, the device of -R/-U), compared by
// storage identity (lib/io/same_file.h); a qcow2 image aimed at a pipe or
// a character device; raw output onto a block device too small for it.
#ifndef E2Q_E2QIMAGE_OUTPUT_CHECKS_H_
#define E2Q_E2QIMAGE_OUTPUT_CHECKS_H_

#include <cstdint>
#include <string>

#include "e2qimage/options.h"
#include "lib/base/status.h"

namespace e2q::cli {

// The checks that need nothing but the command line, for every mode
// (modes that write nothing pass).  Refusals are kInvalidArgument, with a
// message "OUTPUT: refusing to write ...: why".
Status CheckOutputs(const Options& o);

// When `path` is a block device, refuses it if it holds fewer than
// `bytes` bytes (a raw image of that size would end in ENOSPC).
Status CheckRawRoom(const std::string& path, uint64_t bytes);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_OUTPUT_CHECKS_H_
