// Names of snapshot files: a breadth-first search of the live directory
// tree for the inodes of the listed snapshots, stopping as soon as all are
// found (the usual /.snapshots is searched first).
#ifndef E2Q_SNAPSHOT_NEXT3_PATH_H_
#define E2Q_SNAPSHOT_NEXT3_PATH_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/ext4/ext2_fs.h"

namespace e2q::snapshot {

// A path ("/.snapshots/GMT-...") for each of `inodes` that some directory
// links to; inodes without a link are left out.  Directories that cannot
// be read are skipped (a name is a convenience, not worth failing for),
// each with a line in `warnings` (if not null) saying which and why.
std::map<uint32_t, std::string> FindPaths(const ext4::Filesystem& fs,
                                          const std::vector<uint32_t>& inodes,
                                          std::vector<std::string>* warnings);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_PATH_H_
