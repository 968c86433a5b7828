/// The queue's messages by key: an open-addressing table of 32-bit slots (a message's index
/// into `QueueBook.messages`, -1: empty), the key itself read from the message. Four bytes a
/// slot and at most 60% of them used: about 8 MB at a million messages, where a
/// `[Int: Int32]` took about 25. Linear probing from the key's Fibonacci hash (the high bits
/// of key × 2^64/φ, so every bit of the key counts), and deletion by shifting back the
/// entries after it (no tombstones, so lookups never slow down with churn).
struct MessageIndex: Sendable {
    private var slots: [Int32] = []
    /// 64 less log2 of the slot count.
    private var shift = 64
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    private func home(_ key: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(key)) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
    }

    /// The slot holding `key`'s message, if held.
    private func slot(of key: Int, in messages: [QueueBook.Message]) -> Int? {
        guard count > 0 else { return nil }
        let mask = slots.count - 1
        var i = home(key)
        while true {
            let m = slots[i]
            if m < 0 { return nil }
            if messages[Int(m)].key == key { return i }
            i = (i + 1) & mask
        }
    }

    /// The message of `key`, if held.
    func find(_ key: Int, in messages: [QueueBook.Message]) -> Int32? {
        slot(of: key, in: messages).map { slots[$0] }
    }

    /// Adds message `m` (its key not held yet).
    mutating func insert(_ m: Int32, in messages: [QueueBook.Message]) {
        if (count + 1) * 5 > slots.count * 3 { grow(messages) }
        place(m, key: messages[Int(m)].key)
        count += 1
    }

    private mutating func place(_ m: Int32, key: Int) {
        let mask = slots.count - 1
        var i = home(key)
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = m
    }

    private mutating func grow(_ messages: [QueueBook.Message]) {
        let size = max(64, slots.count * 2)
        let old = slots
        slots = [Int32](repeating: -1, count: size)
        shift = 64 - size.trailingZeroBitCount
        for m in old where m >= 0 { place(m, key: messages[Int(m)].key) }
    }

    /// Takes `key` out (nothing if not held).
    mutating func remove(_ key: Int, in messages: [QueueBook.Message]) {
        guard let i = slot(of: key, in: messages) else { return }
        let mask = slots.count - 1
        count -= 1
        // Entries after the hole that would not be found past it move into it.
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            let m = slots[j]
            if m < 0 { break }
            let h = home(messages[Int(m)].key)
            // `m` stays where it is when its home lies cyclically in (hole, j].
            let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
            if !stays {
                slots[hole] = m
                hole = j
            }
        }
        slots[hole] = -1
    }

    /// The messages held, in no particular order.
    var values: LazyFilterSequence<[Int32]> { slots.lazy.filter { $0 >= 0 } }
}
