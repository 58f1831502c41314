// Creating the base filesystem: an ext3 image made by mke2fs with fixed
// UUID, hash seed and time, then the exclude bitmap (the next3 exclude
// inode 9 with COMPAT 0x0080, and/or bg_exclude_bitmap in the group
// descriptors with COMPAT 0x0100, per Gen::exclude_at) and the /.snapshots
// directory (doc/next3-format.md 9.1-9.3).
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_SETUP_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_SETUP_H_

#include <cstdint>
#include <string>

namespace n3g {

class Gen;

// Runs mke2fs on a fresh sparse file of `blocks` 4 KiB blocks.
void MakeBaseFs(const std::string& path, uint64_t blocks, uint32_t inodes,
                uint64_t seed, long time);
// Creates the exclude bitmap where gen.exclude_at says and /.snapshots in
// the opened filesystem.
void SetupNext3(Gen& gen);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_SETUP_H_
