/// Where a followed file was read up to: after the last complete line handed out.
public struct FileCheckpoint: Codable, Equatable, Sendable {
    public var path: String
    public var device: UInt64
    public var inode: UInt64
    public var offset: Int64
    /// FNV-1a of the file's first `fingerprintLength` bytes: tells a file that reuses an
    /// inode number from the one the checkpoint was taken on.
    public var fingerprint: UInt64
    public var fingerprintLength: Int
    /// Rotated-away files still being read (a late writer), oldest first; nil: none.
    public var rotated: [FileCheckpoint]?
    /// When the file was last seen at the path (wall clock, nanoseconds): a file with a
    /// rotated name modified since may have been the log while no one looked.
    public var seenAt: Int64?
    /// Files read to their end, and copies left by copytruncate (inode 0: a copy under any
    /// name), newest last: the next run must not read them again as rotated files.
    public var read: [ReadFile]?

    /// A file read to its end: its identity and first bytes.
    public struct ReadFile: Codable, Equatable, Sendable {
        public var device: UInt64
        public var inode: UInt64
        public var fingerprint: UInt64
        public var fingerprintLength: Int
    }

    public init(path: String, device: UInt64, inode: UInt64, offset: Int64, fingerprint: UInt64,
                fingerprintLength: Int, rotated: [FileCheckpoint]? = nil, seenAt: Int64? = nil) {
        self.path = path
        self.device = device
        self.inode = inode
        self.offset = offset
        self.fingerprint = fingerprint
        self.fingerprintLength = fingerprintLength
        self.rotated = rotated
        self.seenAt = seenAt
    }
}
