// The ext4 directory block format as the scrambler reads and writes it:
// linear dirent records (inode, rec_len, name_len, file_type, name), the
// metadata_csum dirent tail, and packing a list of entries into leaf
// blocks.  Pure byte manipulation, no libext2fs: checksums are set by the
// caller (lib/scramble/scramble_dir.cc) once a block is final.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_DIRENT_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_DIRENT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace e2q::scramble {

constexpr uint32_t kDirentHeaderSize = 8;
// struct ext2_dir_entry_tail: inode 0, rec_len 12, name_len 0, file_type
// 0xDE, crc32c.
constexpr uint32_t kDirentTailSize = 12;
constexpr uint8_t kDirentTailFileType = 0xDE;

// One record of a directory block, as found on disk.
struct DirentRef {
  uint32_t offset;   // within the block
  uint32_t rec_len;  // decoded (64 KiB blocks use a special encoding)
  uint32_t inode;
  uint8_t name_len;
  uint8_t file_type;
};

// An entry to be written: what a directory maps a name to.
struct DirEntry {
  uint32_t inode;
  uint8_t file_type;
  std::string name;
};

// Bytes a record with a name of `name_len` bytes needs (8 + name, rounded
// up to 4).
inline uint32_t DirentSize(uint32_t name_len) {
  return (kDirentHeaderSize + name_len + 3) & ~3u;
}

uint32_t DecodeRecLen(const uint8_t* record, uint32_t block_size);
void EncodeRecLen(uint8_t* record, uint32_t rec_len, uint32_t block_size);

// Appends the records of `block` to `out` in order.  Returns false when a
// record is invalid (rec_len below 8, not a multiple of 4, past the block,
// or shorter than its name); the records before it are still appended.
bool ParseDirents(const uint8_t* block, uint32_t block_size,
                  std::vector<DirentRef>* out);

// True if the last 12 bytes of `block` are a dirent tail.
bool HasDirentTail(const uint8_t* block, uint32_t block_size);
// Writes an empty dirent tail (checksum 0) in the last 12 bytes.
void WriteDirentTail(uint8_t* block, uint32_t block_size);
// Writes one record at `at`: header and name, the rest of rec_len zeroed.
void WriteDirent(uint8_t* at, uint32_t inode, uint32_t rec_len,
                 const std::string& name, uint8_t file_type,
                 uint32_t block_size);

// True if `block` starts like an htree interior node (a record with inode
// 0, name_len 0 and rec_len spanning the block, hiding the dx entries).
bool LooksLikeDxNode(const uint8_t* block, uint32_t block_size);

// Fills `out` (block_size bytes) with a leaf holding entries [begin, end)
// of `entries` in order, the last record stretched to the end of the usable
// space, and a dirent tail when `with_tail`.  An empty range gives one
// unused record spanning the block.  The entries must fit:
// LeafCapacity() >= the sum of their DirentSize().
void BuildLeafBlock(const std::vector<DirEntry>& entries, size_t begin,
                    size_t end, bool with_tail, uint32_t block_size,
                    uint8_t* out);
inline uint32_t LeafCapacity(bool with_tail, uint32_t block_size) {
  return block_size - (with_tail ? kDirentTailSize : 0);
}

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_DIRENT_H_
