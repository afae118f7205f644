// fanotify(7) / <linux/fanotify.h> constants used by fanotifyd.

// fanotify_init flags
export const FAN_CLOEXEC = 0x1;
export const FAN_NONBLOCK = 0x2;
export const FAN_CLASS_NOTIF = 0x0;
export const FAN_CLASS_CONTENT = 0x4;
export const FAN_REPORT_PIDFD = 0x80; // Linux 5.15: a pidfd info record per event
export const FAN_REPORT_FID = 0x200;
export const FAN_REPORT_DIR_FID = 0x400;
export const FAN_REPORT_NAME = 0x800;
export const FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME;

// fanotify_mark flags
export const FAN_MARK_ADD = 0x1;
export const FAN_MARK_REMOVE = 0x2;
export const FAN_MARK_DONT_FOLLOW = 0x4;
export const FAN_MARK_FLUSH = 0x80;
export const FAN_MARK_INODE = 0x0;
export const FAN_MARK_MOUNT = 0x10;
export const FAN_MARK_FILESYSTEM = 0x100;

// event mask bits (all in the low 32 bits)
export const FAN_ACCESS = 0x1;
export const FAN_MODIFY = 0x2;
export const FAN_ATTRIB = 0x4;
export const FAN_CLOSE_WRITE = 0x8;
export const FAN_CLOSE_NOWRITE = 0x10;
export const FAN_OPEN = 0x20;
export const FAN_MOVED_FROM = 0x40;
export const FAN_MOVED_TO = 0x80;
export const FAN_CREATE = 0x100;
export const FAN_DELETE = 0x200;
export const FAN_DELETE_SELF = 0x400;
export const FAN_MOVE_SELF = 0x800;
export const FAN_OPEN_EXEC = 0x1000;
export const FAN_Q_OVERFLOW = 0x4000;
export const FAN_FS_ERROR = 0x8000;
export const FAN_OPEN_PERM = 0x10000;
export const FAN_ACCESS_PERM = 0x20000;
export const FAN_OPEN_EXEC_PERM = 0x40000;
export const FAN_EVENT_ON_CHILD = 0x08000000;
export const FAN_RENAME = 0x10000000;
export const FAN_ONDIR = 0x40000000;

export const FAN_PERM_EVENTS = FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM;

// struct fanotify_event_metadata
export const FANOTIFY_METADATA_VERSION = 3;
export const FAN_EVENT_METADATA_LEN = 24;
export const FAN_NOFD = -1;

// fanotify_event_info_header.info_type
export const FAN_EVENT_INFO_TYPE_FID = 1;
export const FAN_EVENT_INFO_TYPE_DFID_NAME = 2;
export const FAN_EVENT_INFO_TYPE_DFID = 3;
export const FAN_EVENT_INFO_TYPE_PIDFD = 4;
export const FAN_EVENT_INFO_TYPE_ERROR = 5;
/** fanotify_event_info_pidfd.pidfd when the process had been reaped when the event was read. */
export const FAN_NOPIDFD = -1;
/** fanotify_event_info_pidfd.pidfd when the kernel could not create a pidfd. */
export const FAN_EPIDFD = -2;
export const FAN_EVENT_INFO_TYPE_OLD_DFID_NAME = 10;
export const FAN_EVENT_INFO_TYPE_NEW_DFID_NAME = 12;

// struct fanotify_response
export const FAN_ALLOW = 0x1;
export const FAN_DENY = 0x2;

// open(2) and friends (x86_64 / generic values)
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_LARGEFILE = 0o100000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
export const O_NOFOLLOW = 0o400000;
/** openat2(2) resolve flags. */
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const AT_FDCWD = -100;
/** name_to_handle_at(2): a handle fanotify would report, even where it cannot be opened (Linux 6.5+). */
export const AT_HANDLE_FID = 0x200;
export const AT_EMPTY_PATH = 0x1000;
export const MAX_HANDLE_SZ = 128;

// statfs(2) f_type of the filesystems whose fanotify behaviour differs (design.md "Marks: a plan per mark").
export const TMPFS_MAGIC = 0x01021994;
export const EXT4_SUPER_MAGIC = 0xef53;
export const XFS_SUPER_MAGIC = 0x58465342;
export const BTRFS_SUPER_MAGIC = 0x9123683e;
export const OVERLAYFS_SUPER_MAGIC = 0x794c7630;
export const RAMFS_MAGIC = 0x858458f6;
export const FUSE_SUPER_MAGIC = 0x65735546;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const CLOCK_MONOTONIC = 1;
export const TFD_CLOEXEC = 0o2000000;
export const TFD_NONBLOCK = 0o4000;

export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

export const EINTR = 4;
export const EAGAIN = 11;
export const ENOENT = 2;
export const ESTALE = 116;
export const ESRCH = 3;
export const EPERM = 1;
export const EACCES = 13;
export const EXDEV = 18;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const ELOOP = 40;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOSPC = 28;
export const EOPNOTSUPP = 95;
