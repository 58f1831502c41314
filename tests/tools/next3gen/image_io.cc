// A minimal libext2fs io manager over a plain file descriptor, without a
// cache, that calls the generator's copy-on-write hook before every write.
// This is how "before any write of block b" (doc/next3-format.md 9.5) is
// guaranteed for everything libext2fs writes (inodes, directories,
// bitmaps, group descriptors, superblock).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "tests/tools/next3gen/gen.h"

namespace n3g {
namespace {

struct Priv {
  int fd;
};

uint64_t Bytes(io_channel ch, int count) {
  return count < 0 ? uint64_t(-count) : uint64_t(count) * ch->block_size;
}

errcode_t DoOpen(const char* name, int flags, io_channel* out) {
  io_channel ch = nullptr;
  errcode_t err = ext2fs_get_memzero(sizeof(*ch), &ch);
  if (err) return err;
  Priv* priv = nullptr;
  err = ext2fs_get_mem(sizeof(*priv), &priv);
  if (err) return err;
  priv->fd = open(name, (flags & IO_FLAG_RW) ? O_RDWR : O_RDONLY);
  if (priv->fd < 0) {
    err = errno;
    ext2fs_free_mem(&priv);
    ext2fs_free_mem(&ch);
    return err;
  }
  err = ext2fs_get_mem(strlen(name) + 1, &ch->name);
  if (err) return err;
  strcpy(ch->name, name);
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = HookedIoManager();
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = priv;
  *out = ch;
  return 0;
}

errcode_t DoClose(io_channel ch) {
  if (--ch->refcount > 0) return 0;
  Priv* priv = static_cast<Priv*>(ch->private_data);
  close(priv->fd);
  ext2fs_free_mem(&priv);
  ext2fs_free_mem(&ch->name);
  ext2fs_free_mem(&ch);
  return 0;
}

errcode_t DoSetBlksize(io_channel ch, int blksize) {
  ch->block_size = blksize;
  return 0;
}

errcode_t ReadAt(io_channel ch, uint64_t off, uint64_t len, void* data) {
  Priv* priv = static_cast<Priv*>(ch->private_data);
  uint8_t* p = static_cast<uint8_t*>(data);
  while (len > 0) {
    ssize_t n = pread(priv->fd, p, len, off);
    if (n < 0) return errno;
    if (n == 0) {  // past the end: reads as zeros
      memset(p, 0, len);
      break;
    }
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

errcode_t WriteAt(io_channel ch, uint64_t off, uint64_t len, const void* data) {
  Priv* priv = static_cast<Priv*>(ch->private_data);
  // The hook may re-enter libext2fs (snapshot inode writes reuse the inode
  // cache buffer that `data` may point to), so work on a private copy.
  std::vector<uint8_t> copy(static_cast<const uint8_t*>(data),
                            static_cast<const uint8_t*>(data) + len);
  if (g_gen) g_gen->BeforeWrite(off, len, copy.data());
  const uint8_t* p = copy.data();
  while (len > 0) {
    ssize_t n = pwrite(priv->fd, p, len, off);
    if (n < 0) return errno;
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

errcode_t DoRead64(io_channel ch, unsigned long long block, int count,
                   void* data) {
  return ReadAt(ch, block * ch->block_size, Bytes(ch, count), data);
}

errcode_t DoWrite64(io_channel ch, unsigned long long block, int count,
                    const void* data) {
  return WriteAt(ch, block * ch->block_size, Bytes(ch, count), data);
}

errcode_t DoRead(io_channel ch, unsigned long block, int count, void* data) {
  return DoRead64(ch, block, count, data);
}

errcode_t DoWrite(io_channel ch, unsigned long block, int count,
                  const void* data) {
  return DoWrite64(ch, block, count, data);
}

errcode_t DoFlush(io_channel) { return 0; }

errcode_t DoSetOption(io_channel, const char*, const char*) {
  return EXT2_ET_INVALID_ARGUMENT;
}

errcode_t DoZeroout(io_channel ch, unsigned long long block,
                    unsigned long long count) {
  std::vector<uint8_t> zero(ch->block_size, 0);
  for (unsigned long long i = 0; i < count; i++) {
    errcode_t err = DoWrite64(ch, block + i, 1, zero.data());
    if (err) return err;
  }
  return 0;
}

struct_io_manager g_manager = {
    EXT2_ET_MAGIC_IO_MANAGER,
    "next3gen hooked I/O manager",
    DoOpen,
    DoClose,
    DoSetBlksize,
    DoRead,
    DoWrite,
    DoFlush,
    nullptr,  // write_byte
    DoSetOption,
    nullptr,  // get_stats
    DoRead64,
    DoWrite64,
    nullptr,  // discard
    nullptr,  // cache_readahead
    DoZeroout,
    {},
};

}  // namespace

io_manager HookedIoManager() { return &g_manager; }

// Byte-addressed access for the engine: libext2fs switches the channel's
// block size to 1 KiB while it writes the superblock, and the hook runs
// inside that write.
void ReadBytes(io_channel ch, uint64_t off, uint64_t len, void* data) {
  Check(ReadAt(ch, off, len, data), "read at " + std::to_string(off));
}

void WriteBytes(io_channel ch, uint64_t off, uint64_t len, const void* data) {
  Check(WriteAt(ch, off, len, data), "write at " + std::to_string(off));
}

ext2_filsys OpenFs(const std::string& path, bool force) {
  ext2_filsys fs = nullptr;
  int flags = EXT2_FLAG_RW | EXT2_FLAG_64BITS | EXT2_FLAG_MASTER_SB_ONLY;
  if (force) flags |= EXT2_FLAG_FORCE;
  Check(ext2fs_open(path.c_str(), flags, 0, 0, HookedIoManager(), &fs),
        path + ": open");
  fs->flags |= EXT2_FLAG_MASTER_SB_ONLY;
  Check(ext2fs_read_bitmaps(fs), path + ": read bitmaps");
  return fs;
}

}  // namespace n3g
