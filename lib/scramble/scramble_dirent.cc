// Directory record codec for the scrambler.
#include "lib/scramble/scramble_dirent.h"

#include <cstring>

#include "lib/base/endian.h"

namespace e2q::scramble {

namespace {
// rec_len value meaning "the whole 64 KiB block" (EXT4_MAX_REC_LEN).
constexpr uint16_t kMaxRecLen = 65535;
}  // namespace

// Blocks of 64 KiB and more cannot store rec_len in 16 bits; ext4 keeps the
// low bits in the two bits that 4-byte alignment leaves free (as the kernel's
// ext4_rec_len_from_disk).
uint32_t DecodeRecLen(const uint8_t* record, uint32_t block_size) {
  uint32_t len = LoadLE16(record + 4);
  if (block_size < 65536) return len;
  if (len == kMaxRecLen || len == 0) return block_size;
  return (len & 65532) | ((len & 3) << 16);
}

void EncodeRecLen(uint8_t* record, uint32_t rec_len, uint32_t block_size) {
  uint16_t v;
  if (rec_len < 65536) {
    v = static_cast<uint16_t>(rec_len);
  } else if (rec_len == block_size) {
    v = block_size == 65536 ? kMaxRecLen : 0;
  } else {
    v = static_cast<uint16_t>((rec_len & 65532) | ((rec_len >> 16) & 3));
  }
  StoreLE16(record + 4, v);
}

bool ParseDirents(const uint8_t* block, uint32_t block_size,
                  std::vector<DirentRef>* out) {
  uint32_t off = 0;
  while (off < block_size) {
    if (block_size - off < kDirentHeaderSize) return false;
    const uint8_t* p = block + off;
    DirentRef d;
    d.offset = off;
    d.rec_len = DecodeRecLen(p, block_size);
    d.inode = LoadLE32(p);
    d.name_len = p[6];
    d.file_type = p[7];
    if (d.rec_len < kDirentHeaderSize || d.rec_len % 4 != 0 ||
        d.rec_len > block_size - off ||
        kDirentHeaderSize + d.name_len > d.rec_len) {
      return false;
    }
    out->push_back(d);
    off += d.rec_len;
  }
  return true;
}

bool HasDirentTail(const uint8_t* block, uint32_t block_size) {
  if (block_size < kDirentTailSize) return false;
  const uint8_t* t = block + block_size - kDirentTailSize;
  return LoadLE32(t) == 0 && LoadLE16(t + 4) == kDirentTailSize && t[6] == 0 &&
         t[7] == kDirentTailFileType;
}

void WriteDirentTail(uint8_t* block, uint32_t block_size) {
  uint8_t* t = block + block_size - kDirentTailSize;
  std::memset(t, 0, kDirentTailSize);
  StoreLE16(t + 4, kDirentTailSize);
  t[7] = kDirentTailFileType;
}

void WriteDirent(uint8_t* at, uint32_t inode, uint32_t rec_len,
                 const std::string& name, uint8_t file_type,
                 uint32_t block_size) {
  std::memset(at, 0, rec_len);
  StoreLE32(at, inode);
  EncodeRecLen(at, rec_len, block_size);
  at[6] = static_cast<uint8_t>(name.size());
  at[7] = file_type;
  std::memcpy(at + kDirentHeaderSize, name.data(), name.size());
}

bool LooksLikeDxNode(const uint8_t* block, uint32_t block_size) {
  return LoadLE32(block) == 0 &&
         DecodeRecLen(block, block_size) == block_size && block[6] == 0;
}

void BuildLeafBlock(const std::vector<DirEntry>& entries, size_t begin,
                    size_t end, bool with_tail, uint32_t block_size,
                    uint8_t* out) {
  std::memset(out, 0, block_size);
  uint32_t usable = LeafCapacity(with_tail, block_size);
  uint32_t off = 0;
  if (begin == end) {
    WriteDirent(out, 0, usable, std::string(), 0, block_size);
  }
  for (size_t i = begin; i < end; ++i) {
    const DirEntry& e = entries[i];
    uint32_t size = i + 1 == end ? usable - off : DirentSize(e.name.size());
    WriteDirent(out + off, e.inode, size, e.name, e.file_type, block_size);
    off += size;
  }
  if (with_tail) WriteDirentTail(out, block_size);
}

}  // namespace e2q::scramble
