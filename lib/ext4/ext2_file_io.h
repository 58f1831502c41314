// A libext2fs io_manager whose channels read (and, for files opened for
// update, write) through an e2q::io::File, so that every block libext2fs reads
// passes through the project's I/O layer: fault injection in tests, next3
// read-through images later.  Only lib/ext4/ext2_fs.cc should need this header.
//
// libext2fs opens a device by name, so a File is handed to ext2fs_open2 by
// registering it under a generated name (FileIoRegistration) for the
// duration of the open; the channel then holds the File pointer itself.
#ifndef E2Q_LIB_EXT4_EXT2_FILE_IO_H_
#define E2Q_LIB_EXT4_EXT2_FILE_IO_H_

#include <string>

#include "lib/ext4/libext2fs.h"
#include "lib/io/file.h"

namespace e2q::ext4 {

// The io_manager.  Its channels behave like unix_io's where libext2fs can
// tell: a read that reaches the end of the File fails with
// EXT2_ET_SHORT_READ (the missing bytes zeroed), negative counts are byte
// counts, set_blksize changes the unit, and the "offset" option shifts every
// access by a byte offset.  Opening with IO_FLAG_RW fails with EROFS unless
// the File was registered as writable.
io_manager FileIoManager();

// Makes `file` (not owned; must outlive every channel opened on it) openable
// by FileIoManager() under name() until this object is destroyed.  Channels
// already open stay valid after that.  Thread-safe.
class FileIoRegistration {
 public:
  FileIoRegistration(io::File* file, bool writable);
  ~FileIoRegistration();
  FileIoRegistration(const FileIoRegistration&) = delete;
  FileIoRegistration& operator=(const FileIoRegistration&) = delete;

  // The name to pass to ext2fs_open2 (contains no '?', which libext2fs
  // would take for the start of an option string).
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

}  // namespace e2q::ext4

#endif  // E2Q_LIB_EXT4_EXT2_FILE_IO_H_
