/// Finds which of a fixed set of literal needles occur in a text, case-insensitively for
/// ASCII, in one pass over the text (an Aho-Corasick automaton compiled to a dense table over
/// a reduced alphabet). Built once per rule set; matching allocates nothing.
///
/// A needle may be a whole word: it is found only where the bytes around it are not word
/// bytes (ASCII letters, digits and '_', and any byte of a non-ASCII character), so the word
/// "tls" is in "TLS handshake" and "SSL/TLS" but not in "STARTTLS" or "TLSA". The edges are
/// checked only when the automaton recognises such a needle, against the text itself.
public struct NeedleMatcher: Sendable {
    /// Byte -> alphabet symbol (0 = a byte no needle contains).
    private let symbol: [UInt8]
    private let alphabetSize: Int
    /// state * alphabetSize + symbol -> next state: 16-bit when the states fit (the default
    /// rules have about 3,500; half the table's size keeps it in the core's cache), else 32.
    private let next16: [UInt16]
    private let next32: [Int32]
    /// Needle ids recognised on entering a state (including through failure links); a
    /// whole-word needle is stored as `~id`, its edges to be checked.
    private let outputStart: [Int32]
    private let outputs: [Int32]
    /// Per needle id: its length in bytes, and which of its edges must be a word boundary
    /// (1: start, 2: end; 0 for a plain needle).
    private let lengths: [Int32]
    private let edges: [UInt8]
    public let needleCount: Int
    /// The longest needle, in bytes: how far the pieces of a long text overlap.
    private let longest: Int

    /// `wordEdges[i]`: which edges of needle i must be word boundaries: 1 its start, 2 its
    /// end, 3 both (a whole word); 0 or a missing entry: a plain needle.
    public init(needles: [String], wordEdges: [UInt8] = []) {
        needleCount = needles.count
        lengths = needles.map { Int32($0.utf8.count) }
        let edges: [UInt8] = needles.indices.map { i in
            guard i < wordEdges.count, let first = needles[i].utf8.first, let last = needles[i].utf8.last else { return 0 }
            return wordEdges[i] & ((Self.isWordByte(first) ? 1 : 0) | (Self.isWordByte(last) ? 2 : 0))
        }
        self.edges = edges
        longest = needles.map(\.utf8.count).max() ?? 0
        let lowered = needles.map { Array($0.utf8).map(asciiLower) }
        var symbol = [UInt8](repeating: 0, count: 256)
        var size = 1
        for n in lowered {
            for b in n where symbol[Int(b)] == 0 {
                symbol[Int(b)] = UInt8(size)
                size += 1
            }
        }
        // Upper-case letters share the lower-case symbol.
        for b in UInt8(65)...UInt8(90) { symbol[Int(b)] = symbol[Int(b | 0x20)] }
        self.symbol = symbol
        alphabetSize = size

        // Trie, as one flat table (state * size + symbol -> state, -1: none): nested arrays
        // made building the default rules' automaton most of every command's start-up.
        var goto = [Int32](repeating: -1, count: size)
        var states = 1
        var out: [[Int32]] = [[]]
        for (id, n) in lowered.enumerated() where !n.isEmpty {
            var s = 0
            for b in n {
                let c = Int(symbol[Int(b)])
                if goto[s * size + c] < 0 {
                    goto[s * size + c] = Int32(states)
                    goto.append(contentsOf: repeatElement(-1, count: size))
                    out.append([])
                    states += 1
                }
                s = Int(goto[s * size + c])
            }
            out[s].append(Int32(id))
        }
        // Breadth-first: failure links folded into a complete transition table.
        var fail = [Int32](repeating: 0, count: states)
        var table = [Int32](repeating: 0, count: states * size)
        var queue: [Int] = []
        queue.reserveCapacity(states)
        for c in 0..<size {
            let t = goto[c]
            if t > 0 {
                table[c] = t
                queue.append(Int(t))
            }
        }
        var head = 0
        goto.withUnsafeBufferPointer { goto in
            table.withUnsafeMutableBufferPointer { table in
                while head < queue.count {
                    let s = queue[head]
                    head += 1
                    let f = Int(fail[s])
                    if !out[f].isEmpty { out[s].append(contentsOf: out[f]) }
                    for c in 0..<size {
                        let t = goto[s * size + c]
                        if t >= 0 {
                            fail[Int(t)] = table[f * size + c]
                            table[s * size + c] = t
                            queue.append(Int(t))
                        } else {
                            table[s * size + c] = table[f * size + c]
                        }
                    }
                }
            }
        }
        if states <= Int(UInt16.max) {
            next16 = table.map { UInt16($0) }
            next32 = []
        } else {
            next16 = []
            next32 = table
        }
        var starts: [Int32] = []
        var flat: [Int32] = []
        for o in out {
            starts.append(Int32(flat.count))
            var last: Int32 = -1
            for id in o.sorted() where id != last {
                flat.append(edges[Int(id)] != 0 ? ~id : id)
                last = id
            }
        }
        starts.append(Int32(flat.count))
        outputStart = starts
        outputs = flat
    }

    /// Marks in `found` (indexed by needle id) every needle that occurs in `text`.
    public func scan(_ text: Bytes, into found: inout [Bool]) {
        if found.count < needleCount { found = [Bool](repeating: false, count: needleCount) }
        if next16.isEmpty {
            next32.withUnsafeBufferPointer { scan(text, $0, &found) }
        } else {
            next16.withUnsafeBufferPointer { scan(text, $0, &found) }
        }
    }

    /// A byte that words are made of: an ASCII letter, digit or '_' (as in regular expressions:
    /// "smtp_tls_security_level" is one word), or part of a non-ASCII character.
    @inline(__always)
    static func isWordByte(_ b: UInt8) -> Bool {
        let l = b | 0x20
        return (l >= UInt8(ascii: "a") && l <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b >= 0x80
    }

    /// Texts at least this long are scanned as four interleaved pieces.
    static let interleaveFrom = 256

    @inline(__always)
    private func scan<T: BinaryInteger>(_ text: Bytes, _ next: UnsafeBufferPointer<T>, _ found: inout [Bool]) {
        let width = alphabetSize
        // Raw buffers in the loop: it runs once per byte of every failure text, and the
        // arrays' bounds checks were half its cost. Every index is in range by construction
        // (states and symbols come from the table built above).
        //
        // Each step depends on the state the step before left, and the table is larger than
        // the core's first-level cache: one chain waits on memory at every byte. A long text
        // is therefore cut into four pieces scanned side by side, each running on into the
        // next by the longest needle's length less one, so a needle across a cut is still
        // found whole by the piece it starts in.
        symbol.withUnsafeBufferPointer { symbol in
            outputStart.withUnsafeBufferPointer { starts in
                outputs.withUnsafeBufferPointer { outputs in
                    lengths.withUnsafeBufferPointer { lengths in
                    edges.withUnsafeBufferPointer { edges in
                    found.withUnsafeMutableBufferPointer { found in
                        let n = text.count
                        /// The whole-word needle `id` ending at `i`: whether its edges are boundaries.
                        @inline(never) func wordAt(_ id: Int, _ i: Int) -> Bool {
                            let start = i &+ 1 &- Int(lengths[id]), e = edges[id]
                            if e & 1 != 0 && start > 0 && Self.isWordByte(text[start &- 1]) { return false }
                            if e & 2 != 0 && i &+ 1 < n && Self.isWordByte(text[i &+ 1]) { return false }
                            return true
                        }
                        @inline(__always) func step(_ s: inout Int, _ i: Int) {
                            s = Int(next[s &* width &+ Int(symbol[Int(text[i])])])
                            let lo = Int(starts[s]), hi = Int(starts[s &+ 1])
                            if lo != hi {
                                for k in lo..<hi {
                                    let o = outputs[k]
                                    if o >= 0 { found[Int(o)] = true } else if wordAt(Int(~o), i) { found[Int(~o)] = true }
                                }
                            }
                        }
                        let overlap = max(0, longest - 1)
                        guard n >= Self.interleaveFrom && n / 4 > overlap else {
                            var s = 0
                            var i = 0
                            while i < n { step(&s, i); i &+= 1 }
                            return
                        }
                        let q = n / 4
                        // Pieces 0-2: [p*q, p*q + q + overlap), inside the text as n/4 > overlap;
                        // piece 3: [3q, n).
                        let length = q + overlap, last = n - 3 * q
                        var s0 = 0, s1 = 0, s2 = 0, s3 = 0
                        let common = min(length, last)
                        var i = 0
                        while i < common {
                            step(&s0, i)
                            step(&s1, q &+ i)
                            step(&s2, 2 &* q &+ i)
                            step(&s3, 3 &* q &+ i)
                            i &+= 1
                        }
                        for j in common..<max(common, length) {
                            step(&s0, j)
                            step(&s1, q &+ j)
                            step(&s2, 2 &* q &+ j)
                        }
                        for j in common..<max(common, last) { step(&s3, 3 &* q &+ j) }
                    }
                    }
                    }
                }
            }
        }
    }
}
