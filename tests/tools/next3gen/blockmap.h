// Indirect (ext3) block maps of regular files, directories and snapshot
// files: lookup, insertion, walking and removal on raw inode structures.
// Snapshot files use the same tree with logical block = fs block + 1036
// (doc/next3-format.md 1.2/1.3), and for them raw i_block[0..2] are the extra
// TIND roots of fs blocks 2^20 + 2^30 and beyond (regular files with the
// SNAPFILE flag; the functions tell by the inode).
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_BLOCKMAP_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_BLOCKMAP_H_

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <functional>

namespace n3g {

class Gen;

using ReadFn = std::function<void(uint64_t block, void* buf)>;
using AllocFn = std::function<uint64_t(uint64_t goal)>;  // zeroed block
using ReleaseFn = std::function<void(uint64_t block)>;

// Physical block of logical block `l`, 0 for a hole.
uint64_t MapGet(const ReadFn& read, const ext2_inode& inode, uint64_t l);

// Maps logical `l` to `p`, allocating missing indirect blocks with `alloc`
// and writing changed indirect blocks through gen.Write.  Updates
// inode.i_block (the caller writes the inode).  Returns the number of
// indirect blocks allocated.
int MapSet(Gen& gen, ext2_inode& inode, uint64_t l, uint64_t p,
           const AllocFn& alloc);

// Calls data(l, p) for every mapped data block in logical order and ind(p)
// for every indirect block (before its children).
void MapWalk(const ReadFn& read, const ext2_inode& inode,
             const std::function<void(uint64_t l, uint64_t p)>& data,
             const std::function<void(uint64_t p)>& ind);

// Unmaps every data block for which remove(l, p) is true, calling
// release(p) for each (children before parents).  Indirect blocks left
// empty are released too unless keep_empty_ind.  Changed indirect blocks
// that stay are written through gen.Write; inode.i_block is updated.
void MapRemoveIf(Gen& gen, ext2_inode& inode,
                 const std::function<bool(uint64_t l, uint64_t p)>& remove,
                 const ReleaseFn& release, bool keep_empty_ind);

// Number of data + indirect blocks of the tree.
uint64_t MapCount(const ReadFn& read, const ext2_inode& inode);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_BLOCKMAP_H_
