// The one header that includes libext2fs's own headers, so that the project
// sees one set of its macros and types.  ext2_fs.h (the filesystem owner) and
// ext2_file_io.h (the io_manager it opens through) both build on it, and
// neither includes the other.
#ifndef E2Q_LIB_EXT4_LIBEXT2FS_H_
#define E2Q_LIB_EXT4_LIBEXT2FS_H_

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#endif  // E2Q_LIB_EXT4_LIBEXT2FS_H_
