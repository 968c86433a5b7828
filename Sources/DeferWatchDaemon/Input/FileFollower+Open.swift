#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

extension FileFollower {
    /// On a first start (no checkpoint), opens the file now and fixes where reading begins
    /// (its end, or the first line in the lookback), so that lines written from this moment
    /// on are read, however late the first `poll` comes, and a checkpoint taken before that
    /// poll already holds the position. Nothing to do with a checkpoint or without the file.
    public func pinStart() throws(InputError) {
        guard current == nil, resumeFrom == nil else { return }
        try openInitial(now: clock())
    }

    /// The first open, and every open after the path was gone or unreadable: resume the
    /// checkpoint (the rotated files first), or begin where `start` says.
    func openInitial(now: Int64) throws(InputError) {
        var st = stat()
        let exists = stat(path, &st) == 0
        if let cp = resumeFrom {
            // Cleared only once the resume worked: a file that cannot be opened now is
            // resumed from the checkpoint at a later poll, never read from its start.
            rotated = []
            try resume(cp, at: exists ? FileIdentity(st) : nil, now: now)
            resumeFrom = nil
            return
        }
        // The path was missing or not a file: files rotated meanwhile come first.
        if everOpened { adoptGapFiles(since: gapFloor, excluding: exists ? FileIdentity(st) : nil, now: now) }
        guard exists else { return }
        if let before = siblingsAtStart {
            // Created and already rotated away before the first poll: those files first.
            siblingsAtStart = nil
            for s in RotatedNames.siblings(of: path) where !before.contains(s.identity) && s.identity != FileIdentity(st) {
                if let f = try? LogFile(opening: s.name, maxLineLength: maxLineLength, clock: now) {
                    rotated.append(f)
                    note?("reading \(f.describe) from its start: created and rotated before the first poll")
                }
            }
        }
        let from: String
        switch start {
        case .beginning: from = "from its start"
        case .end: from = "from its end (first start)"
        case .since: from = "from the first line in the lookback (first start)"
        }
        try openCurrent(now: now, said: false)
        guard let c = current else { return }
        switch start {
        case .beginning: break
        case .end: c.seek(to: c.size)
        case .since(let time, let lineTime): c.seek(to: Self.firstLine(fd: c.fd, size: c.size, since: time, lineTime: lineTime))
        }
        note?("reading \(c.describe) \(from), offset \(c.offset)")
        start = .beginning
    }

    /// Where an earlier run stopped: each file it was reading is found by its identity, at
    /// the path or under a rotated name, and read on from its position; files rotated since
    /// (modified after the checkpoint's `seenAt`) are read whole; then the file at the path.
    private func resume(_ cp: FileCheckpoint, at here: FileIdentity?, now: Int64) throws(InputError) {
        let siblings = RotatedNames.siblings(of: path)
        func name(of c: FileCheckpoint) -> String? {
            guard c.inode != 0 else { return nil }
            if here == FileIdentity(c) { return path }
            return siblings.first { $0.identity == FileIdentity(c) }?.name
        }
        for r in cp.rotated ?? [] {
            guard let n = name(of: r), n != path,
                  let f = try? LogFile(opening: n, maxLineLength: maxLineLength, clock: now) else { continue }
            f.resume(from: r)
            rotated.append(f)
            note?("resuming \(f.describe), rotated, at offset \(f.offset) (checkpoint: \(r.offset))")
        }
        var atPath: LogFile?
        if let n = name(of: cp), let f = n == path ? try LogFile(opening: n, maxLineLength: maxLineLength, clock: now)
            : try? LogFile(opening: n, maxLineLength: maxLineLength, clock: now) {
            if n == path {
                // Truncated while deferwatch was down (copytruncate), or the inode number
                // reused by another file: the first bytes tell (handleTruncation).
                f.seek(to: cp.offset)
                f.fingerprint = Fingerprint(hash: cp.fingerprint, length: cp.fingerprintLength)
                atPath = f
                note?("resuming \(f.describe) at offset \(cp.offset)")
            } else {
                f.resume(from: cp)
                rotated.append(f)
                note?("resuming \(f.describe), rotated while deferwatch was down, at offset \(f.offset) (checkpoint: \(cp.offset))")
            }
        }
        // What the last run finished reading (copies of copytruncate among them): not read
        // again as files rotated while no one looked.
        for r in cp.read ?? [] {
            remember(FileIdentity(device: r.device, inode: r.inode), Fingerprint(hash: r.fingerprint, length: r.fingerprintLength))
        }
        if let seen = cp.seenAt {
            // A file that starts as a checkpointed one is its copy (copytruncate while
            // deferwatch was down): its tail is read by handleTruncation, never all of it.
            for c in [cp] + (cp.rotated ?? []) where c.inode != 0 {
                remember(FileIdentity(c), Fingerprint(hash: c.fingerprint, length: c.fingerprintLength))
            }
            adoptGapFiles(since: seen, excluding: here, now: now)
        }
        if let atPath {
            current = atPath
            gapFloor = wallNanoseconds()
        } else if here != nil {
            try openCurrent(now: now)
        }
        start = .beginning
    }

    /// copytruncate: the file was emptied under us (it is shorter than what was read, or its
    /// first bytes changed because it was emptied and written again since the last poll).
    /// What was written after the last read went to the copy (`path.1` or a dated name):
    /// that tail is read from the copy first, then the emptied file from its beginning.
    func handleTruncation(_ c: LogFile, now: Int64, _ emit: (Bytes) -> Void) {
        let size = c.size
        let truncated: Bool
        if size < c.offset {
            truncated = true
        } else if c.fingerprint.length > 0 {
            let first = Fingerprint(fd: c.fd, length: c.fingerprint.length)
            truncated = first != c.fingerprint
        } else {
            truncated = false
        }
        guard truncated else { return }
        let before = c.fingerprint
        if before.length > 0 {
            // A copy as long as what was read is the copy too (nothing was left unread).
            for s in RotatedNames.siblings(of: path).reversed() where s.identity != c.identity && s.size >= c.offset {
                guard let copy = try? LogFile(opening: s.name, maxLineLength: maxLineLength, clock: now),
                      Fingerprint(fd: copy.fd, length: before.length) == before else { continue }
                // From the start of the partial line the emptied file was holding.
                copy.seek(to: c.lineStart)
                note?("\(path) was truncated (copytruncate): " + (copy.size > c.lineStart
                    ? "reading the rest from \(copy.describe) at offset \(c.lineStart)" : "its copy \(copy.describe) holds nothing unread"))
                var all = Int.max
                _ = try? copy.read(budget: &all, buffer: buffer, clock: now, emit)
                copy.finish(emit)
                remember(copy.identity, copy.fingerprint)
                c.restart(emit, handOutPartialLine: false)
                return
            }
            // The copy (under any name) holds nothing a later scan should read again.
            remember(FileIdentity(device: 0, inode: 0), before)
        }
        note?("\(c.describe) was truncated at offset \(c.offset) (no copy found): read again from its start")
        c.restart(emit)
    }
}
