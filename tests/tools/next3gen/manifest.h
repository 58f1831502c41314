// Manifests of a filesystem tree (contract: next3-contract.md, "Changes"):
//   d PATH | f DIGEST PATH | l TARGET PATH, sorted by path (bytewise).
// DIGEST is the sha256 of "size S\n" followed, for every maximal run of
// consecutive mapped logical blocks, by "L N\n" and the N whole blocks.
// That is cheap for sparse multi-GiB files and is what the shell helper
// `manifest` in tests/func/next3_common.sh computes from debugfs.
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_MANIFEST_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_MANIFEST_H_

#include <ext2fs/ext2fs.h>

#include <string>

namespace n3g {

class Gen;

// Writes the manifest of the live filesystem as it is now.  With
// snapshot_view, snapshot files are listed as the empty files they are in a
// snapshot image; without, they are left out.
void WriteManifest(Gen& gen, const std::string& path, bool snapshot_view);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_MANIFEST_H_
