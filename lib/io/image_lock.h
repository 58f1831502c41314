// qemu's image locking, so that e2qimage and qemu keep out of each other's
// way: qemu (file-posix) takes shared OFD locks on single bytes of every
// image it opens -- byte 100 + i while it holds permission i, byte 200 + i
// while it lets nobody else hold it -- and refuses an open whose
// permissions conflict with another holder's (qemu-img: "Failed to get
// shared "write" lock").  e2qimage reads as `qemu-img info` does
// (consistent read; write and resize not shared) and writes as
// `qemu-img commit` does (consistent read, write and resize; write and
// resize not shared), on the same bytes, so either tool sees the other.
#ifndef E2Q_LIB_IO_IMAGE_LOCK_H_
#define E2Q_LIB_IO_IMAGE_LOCK_H_

#include <string>

#include "lib/base/status.h"

namespace e2q::io {

enum class LockIntent { kRead, kWrite };

// Takes the locks for `intent` on `fd` (they last as long as its open file
// description) and checks that no other open file description -- in this
// process or another -- holds a conflicting one.  On conflict, the locks
// just taken are released and the error names `name` and the permission,
// as qemu does.  Files whose file system has no OFD locks are not locked
// (qemu's locking=auto), so this never fails for that reason.
Status LockImage(int fd, const std::string& name, LockIntent intent);

// Read locks are neither taken nor checked: qemu-img's --force-share (-U),
// for reading an image that a running qemu holds.  Write locks are always
// taken.  Process-wide, set by the command line before any file is opened.
void SetForceShare(bool force_share);
bool ForceShare();

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_IMAGE_LOCK_H_
