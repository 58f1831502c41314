// Live filesystem changes, each routed through the next3 engine: directory
// entries and inodes are written through the hooked channel (copy-on-write),
// regular-file data overwrites move the old block into the active snapshot
// (move-on-write), and every freed block goes through Gen::Release.
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_FSOPS_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_FSOPS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace n3g {

class Gen;

void LinkEntry(Gen& gen, uint32_t dir, const std::string& name, uint32_t ino,
               int file_type);
// A new directory; its inode in group `inode_group` when >= 0 (its block
// then goes near it), else where libext2fs puts it (near the parent).
uint32_t MakeDir(Gen& gen, uint32_t parent, const std::string& name,
                 int inode_group = -1);
void RemoveDir(Gen& gen, uint32_t parent, const std::string& name,
               uint32_t ino);
uint32_t MakeSymlink(Gen& gen, uint32_t parent, const std::string& name,
                     const std::string& target);
// A new regular file of `size` bytes with the given logical blocks written.
// New data blocks go to group `group` when >= 0, else to a group chosen by
// the inode number.
uint32_t MakeFile(Gen& gen, uint32_t parent, const std::string& name,
                  const std::vector<uint64_t>& blocks, uint64_t size,
                  int group = -1);
// Writes (overwrites or fills) logical blocks; grows i_size to `min_size`.
void WriteBlocks(Gen& gen, uint32_t ino, const std::vector<uint64_t>& blocks,
                 uint64_t min_size, int group = -1);
void TruncateFile(Gen& gen, uint32_t ino, uint64_t size);
// Unlinks a file or symlink and deletes it when no link is left.
void RemoveFile(Gen& gen, uint32_t parent, const std::string& name,
                uint32_t ino);
// A further hard link to regular file `ino`.
void AddLink(Gen& gen, uint32_t dir, const std::string& name, uint32_t ino);
void Rename(Gen& gen, uint32_t from_dir, const std::string& from,
            uint32_t to_dir, const std::string& to, uint32_t ino, int ft);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_FSOPS_H_
