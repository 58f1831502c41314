// FileIoManager: libext2fs channels over e2q::io::File.
#include "lib/ext4/ext2_file_io.h"

#include <ext2fs/ext2_err.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace e2q::ext4 {

namespace {

struct Registered {
  io::File* file;
  bool writable;
};

std::mutex& RegistryMutex() {
  static std::mutex m;
  return m;
}

std::map<std::string, Registered>& Registry() {
  static std::map<std::string, Registered> r;
  return r;
}

struct ChannelData {
  io::File* file = nullptr;
  bool writable = false;
  uint64_t offset = 0;  // the "offset=" option, in bytes
  struct_io_stats stats{};
};

ChannelData* Data(io_channel channel) {
  return static_cast<ChannelData*>(channel->private_data);
}

// Bytes covered by `count` units of the channel's block size; a negative
// count is a byte count (libext2fs' convention).
size_t TransferSize(io_channel channel, int count) {
  if (count < 0) return static_cast<size_t>(-static_cast<int64_t>(count));
  return size_t{static_cast<uint32_t>(count)} *
         static_cast<uint32_t>(channel->block_size);
}

// Byte position of `block`, or false on overflow.
bool BlockOffset(io_channel channel, unsigned long long block,
                 uint64_t* offset) {
  uint64_t bs = static_cast<uint32_t>(channel->block_size);
  if (bs != 0 && block > (UINT64_MAX - Data(channel)->offset) / bs) {
    return false;
  }
  *offset = block * bs + Data(channel)->offset;
  return true;
}

errcode_t FileOpen(const char* name, int flags, io_channel* channel);

errcode_t FileClose(io_channel channel) {
  if (channel == nullptr || channel->magic != EXT2_ET_MAGIC_IO_CHANNEL) {
    return EXT2_ET_MAGIC_IO_CHANNEL;
  }
  if (--channel->refcount > 0) return 0;
  delete Data(channel);
  delete[] channel->name;
  delete channel;
  return 0;
}

errcode_t FileSetBlksize(io_channel channel, int blksize) {
  if (blksize <= 0) return EXT2_ET_INVALID_ARGUMENT;
  channel->block_size = blksize;
  return 0;
}

errcode_t FileReadBlk64(io_channel channel, unsigned long long block, int count,
                        void* buf) {
  ChannelData* d = Data(channel);
  size_t size = TransferSize(channel, count);
  uint64_t offset = 0;
  if (!BlockOffset(channel, block, &offset)) return EXT2_ET_LLSEEK_FAILED;
  auto* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  errcode_t err = 0;
  while (done < size) {
    Result<size_t> n = d->file->ReadSome(offset + done, p + done, size - done);
    if (!n.ok()) {
      err = EIO;
      break;
    }
    if (*n == 0) {
      err = EXT2_ET_SHORT_READ;
      break;
    }
    done += *n;
  }
  d->stats.bytes_read += done;
  if (err == 0) return 0;
  // Like unix_io: the caller sees zeros where nothing could be read.
  std::memset(p + done, 0, size - done);
  if (channel->read_error) {
    return channel->read_error(channel, static_cast<unsigned long>(block),
                               count, buf, size, static_cast<int>(done), err);
  }
  return err;
}

errcode_t FileReadBlk(io_channel channel, unsigned long block, int count,
                      void* buf) {
  return FileReadBlk64(channel, block, count, buf);
}

errcode_t WriteBytes(io_channel channel, uint64_t offset, const void* buf,
                     size_t size) {
  ChannelData* d = Data(channel);
  if (!d->writable) return EROFS;
  Status s = d->file->WriteAt(offset, buf, size);
  if (!s.ok()) return EIO;
  d->stats.bytes_written += size;
  return 0;
}

errcode_t FileWriteBlk64(io_channel channel, unsigned long long block,
                         int count, const void* buf) {
  size_t size = TransferSize(channel, count);
  uint64_t offset = 0;
  if (!BlockOffset(channel, block, &offset)) return EXT2_ET_LLSEEK_FAILED;
  errcode_t err = WriteBytes(channel, offset, buf, size);
  if (err != 0 && channel->write_error) {
    return channel->write_error(channel, static_cast<unsigned long>(block),
                                count, buf, size, 0, err);
  }
  return err;
}

errcode_t FileWriteBlk(io_channel channel, unsigned long block, int count,
                       const void* buf) {
  return FileWriteBlk64(channel, block, count, buf);
}

errcode_t FileWriteByte(io_channel channel, unsigned long offset, int count,
                        const void* buf) {
  if (count < 0) return EXT2_ET_INVALID_ARGUMENT;
  uint64_t pos = uint64_t{offset} + Data(channel)->offset;
  if (pos < offset) return EXT2_ET_LLSEEK_FAILED;
  return WriteBytes(channel, pos, buf, static_cast<size_t>(count));
}

errcode_t FileFlush(io_channel channel) {
  ChannelData* d = Data(channel);
  if (!d->writable) return 0;
  return d->file->Sync().ok() ? 0 : EIO;
}

errcode_t FileSetOption(io_channel channel, const char* option,
                        const char* arg) {
  if (std::strcmp(option, "offset") != 0) return EXT2_ET_INVALID_ARGUMENT;
  if (arg == nullptr || *arg == '\0') return EXT2_ET_INVALID_ARGUMENT;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(arg, &end, 0);
  if (errno != 0 || *end != '\0') return EXT2_ET_INVALID_ARGUMENT;
  Data(channel)->offset = v;
  return 0;
}

errcode_t FileGetStats(io_channel channel, io_stats* stats) {
  if (stats) *stats = &Data(channel)->stats;
  return 0;
}

struct_io_manager MakeManager() {
  struct_io_manager m{};
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "e2q File I/O Manager";
  m.open = FileOpen;
  m.close = FileClose;
  m.set_blksize = FileSetBlksize;
  m.read_blk = FileReadBlk;
  m.write_blk = FileWriteBlk;
  m.flush = FileFlush;
  m.write_byte = FileWriteByte;
  m.set_option = FileSetOption;
  m.get_stats = FileGetStats;
  m.read_blk64 = FileReadBlk64;
  m.write_blk64 = FileWriteBlk64;
  return m;
}

struct_io_manager g_manager = MakeManager();

errcode_t FileOpen(const char* name, int flags, io_channel* channel) {
  if (name == nullptr || channel == nullptr) return EXT2_ET_BAD_DEVICE_NAME;
  Registered reg{};
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Registry().find(name);
    if (it == Registry().end()) return ENOENT;
    reg = it->second;
  }
  bool want_write = (flags & IO_FLAG_RW) != 0;
  if (want_write && !reg.writable) return EROFS;

  auto* data = new ChannelData;
  data->file = reg.file;
  data->writable = want_write;
  data->stats.num_fields = 2;
  auto* ch = new struct_io_channel{};
  size_t len = std::strlen(name);
  ch->name = new char[len + 1];
  std::memcpy(ch->name, name, len + 1);
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = &g_manager;
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = data;
  *channel = ch;
  return 0;
}

}  // namespace

io_manager FileIoManager() { return &g_manager; }

FileIoRegistration::FileIoRegistration(io::File* file, bool writable) {
  static std::atomic<uint64_t> next{1};
  name_ = "e2q-file:" + std::to_string(next.fetch_add(1));
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry()[name_] = Registered{file, writable};
}

FileIoRegistration::~FileIoRegistration() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry().erase(name_);
}

}  // namespace e2q::ext4
