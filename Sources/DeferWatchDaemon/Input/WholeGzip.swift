#if canImport(Glibc)
import Glibc
#endif
import CDeflate

/// How much memory whole-file gzip decompression may hold at once, shared by the threads
/// of one `analyze`: a file is inflated whole only while its compressed and inflated sizes
/// fit in what is left, and streams through zlib otherwise. The output is the same either
/// way; only the speed differs.
public final class InflateBudget: @unchecked Sendable {
    public let limit: Int
    private var used = 0
    private let lock = ConditionLock()

    public init(bytes: Int) { limit = max(0, bytes) }

    /// Bytes reserved now.
    public var inUse: Int {
        lock.lock()
        defer { lock.unlock() }
        return used
    }

    func reserve(_ n: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard n >= 0, n <= limit - used else { return false }
        used += n
        return true
    }

    func release(_ n: Int) {
        lock.lock()
        used -= n
        lock.unlock()
    }
}

/// A .gz file's text inflated whole, in memory of its own (anonymous pages, huge pages where
/// the kernel gives them: with 4 KiB pages, faulting in the text cost a tenth of the
/// whole `analyze`), its share of the budget held until it is freed.
final class InflatedText: @unchecked Sendable {
    /// The text, aligned to a huge page inside the mapping.
    let base: UnsafeMutableRawPointer
    /// Bytes of text (set once it is inflated).
    fileprivate(set) var count = 0
    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    private let budget: InflateBudget
    private let reserved: Int
    /// The text before this offset has been given back.
    private var discarded = 0

    /// Memory for `capacity` bytes of text; nil when the kernel gives none.
    init?(capacity: Int, budget: InflateBudget, reserved: Int) {
        let huge = WholeGzip.hugePage
        let length = capacity + huge
        guard let m = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED else { return nil }
        mapping = m
        mappingLength = length
        let aligned = (Int(bitPattern: m) + huge - 1) / huge * huge
        base = m + (aligned - Int(bitPattern: m))
        madvise(base, capacity, MADV_HUGEPAGE)
        self.budget = budget
        self.reserved = reserved
    }

    deinit {
        munmap(mapping, mappingLength)
        budget.release(reserved)
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Gives the memory of the text before `offset` back to the kernel: it has all been read.
    /// Whole huge pages only, so that none is split.
    func discard(upTo offset: Int) {
        let to = min(offset, count) / WholeGzip.hugePage * WholeGzip.hugePage
        if to > discarded {
            madvise(base + discarded, to - discarded, MADV_DONTNEED)
            discarded = to
        }
    }
}

/// Whole-file gzip decompression through libdeflate, which has no streaming interface but
/// inflates about 2.7 times as fast as zlib here (Benchmarks/inflate_compare.c). The
/// compressed file is read at once and its members inflated into a buffer sized by the
/// file's trailer (the inflated size of its last member, exact for the usual file of one).
///
/// Whatever it cannot do whole (a first member larger than the buffer, as after cat of
/// several files; corrupt or truncated data; no budget left), it declines before handing
/// out any text, and the file streams through zlib from its start, which delivers what it
/// can and reports the error in its own words: the text and the errors never depend on the
/// path taken.
enum WholeGzip {
    /// Larger files (inflated) stream through zlib: a day of a busy host's log is not
    /// held in memory.
    static let maxInflated = 64 << 20
    static let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    static let hugePage = 2 << 20

    /// The inflated size the file's trailer gives, when the file is gzip (by its magic
    /// bytes), a regular file, and small enough to inflate whole; nil otherwise.
    static func plannedSize(fd: Int32) -> (compressed: Int, inflated: Int)? {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int64(st.st_size)
        // A gzip member is at least 18 bytes (10 of header, 8 of trailer).
        guard size >= 18, size <= Int64(maxInflated) else { return nil }
        var head: [UInt8] = [0, 0]
        var tail: [UInt8] = [0, 0, 0, 0]
        guard pread(fd, &head, 2, 0) == 2, head[0] == 0x1F, head[1] == 0x8B,
              pread(fd, &tail, 4, off_t(size - 4)) == 4 else { return nil }
        // ISIZE: the last member's inflated size, modulo 2^32.
        let isize = Int(tail[0]) | Int(tail[1]) << 8 | Int(tail[2]) << 16 | Int(tail[3]) << 24
        guard isize <= maxInflated else { return nil }
        return (Int(size), isize)
    }

    /// The whole text of the gzip file `fd`, or nil when it declines (see above); nothing
    /// of the file has been handed out either way. Does not move the file's offset.
    static func inflate(fd: Int32, budget: InflateBudget) -> InflatedText? {
        guard let (size, isize) = plannedSize(fd: fd) else { return nil }
        let capacity = max(page, (isize + page - 1) / page * page)
        guard budget.reserve(size + capacity) else { return nil }
        // The compressed bytes' share is given back on return; the text's goes with it.
        defer { budget.release(size) }
        guard let text = InflatedText(capacity: capacity, budget: budget, reserved: capacity) else {
            budget.release(capacity)
            return nil
        }
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { input.deallocate() }
        var got = 0
        while got < input.count {
            let n = pread(fd, input.baseAddress! + got, input.count - got, off_t(got))
            if n < 0 && errno == EINTR { continue }
            // A read error: zlib's stream meets it too, after the lines before it.
            if n < 0 { return nil }
            if n == 0 { break }
            got += n
        }
        guard let decompressor = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var pos = 0
        var filled = 0
        while pos < got {
            var used = 0
            var produced = 0
            let rc = libdeflate_gzip_decompress_ex(decompressor, input.baseAddress! + pos, got - pos, text.base + filled,
                                                   capacity - filled, &used, &produced)
            guard rc == LIBDEFLATE_SUCCESS, used > 0 else { return nil }
            pos += used
            filled += produced
        }
        text.count = filled
        return text
    }

    /// Reads the gzip file `fd` whole into `body`, in chunks, giving each chunk's pages back
    /// once `body` is through with it. False when it declined: the caller streams the file.
    static func read(fd: Int32, budget: InflateBudget, body: (UnsafeRawBufferPointer) -> Void,
                     progress: ((Int64) -> Void)?) -> Bool {
        guard let text = inflate(fd: fd, budget: budget) else { return false }
        progress?(Int64(plannedSize(fd: fd)?.compressed ?? 0))
        var start = 0
        while start < text.count {
            let n = min(ChunkReader.chunkSize, text.count - start)
            body(UnsafeRawBufferPointer(start: text.base + start, count: n))
            start += n
            text.discard(upTo: start)
        }
        return true
    }
}
