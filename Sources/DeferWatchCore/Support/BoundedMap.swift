/// A map with a hard size bound and approximately-least-recently-used eviction, in O(1):
/// two generations; a hit in the old generation moves the entry to the new one, and when
/// the new generation is full the old one is dropped whole. At most `capacity` entries.
public struct BoundedMap<Key: Hashable, Value> {
    public let capacity: Int
    private var young: [Key: Value] = [:]
    private var old: [Key: Value] = [:]
    public private(set) var evictions = 0

    public init(capacity: Int) {
        precondition(capacity >= 2)
        self.capacity = capacity
    }

    public var count: Int { young.count + old.count }

    public subscript(key: Key) -> Value? {
        mutating get {
            if let i = young.index(forKey: key) { return young.values[i] }
            guard let v = old.removeValue(forKey: key) else { return nil }
            insert(key, v)
            return v
        }
        set {
            if let newValue {
                if let i = young.index(forKey: key) { young.values[i] = newValue; return }
                old.removeValue(forKey: key)
                insert(key, newValue)
            } else {
                young.removeValue(forKey: key)
                old.removeValue(forKey: key)
            }
        }
    }

    /// Runs `body` on the value in place (inserting `defaultValue()` first if absent).
    @discardableResult
    public mutating func withValue<R>(_ key: Key, default defaultValue: @autoclosure () -> Value, _ body: (inout Value) -> R) -> R {
        // One hash for the common case: the key is in the young generation.
        if let i = young.index(forKey: key) { return body(&young.values[i]) }
        // Changed before it goes in (it is this map's only copy), so the key is looked up
        // once more to insert it, not twice.
        var v = (old.isEmpty ? nil : old.removeValue(forKey: key)) ?? defaultValue()
        let r = body(&v)
        insert(key, v)
        return r
    }

    /// Inserts the key unless it is there (refreshing it then); true when it was new.
    public mutating func insertIfAbsent(_ key: Key, _ value: Value) -> Bool {
        if young.index(forKey: key) != nil { return false }
        if let v = old.removeValue(forKey: key) {
            insert(key, v)
            return false
        }
        insert(key, value)
        return true
    }

    /// Reads without refreshing recency.
    public func peek(_ key: Key) -> Value? { young[key] ?? old[key] }

    private mutating func insert(_ key: Key, _ value: Value) {
        if young.count >= capacity / 2 {
            evictions += old.count
            old = young
            young = [:]
            young.reserveCapacity(capacity / 2)
        }
        young[key] = value
    }

    public func forEach(_ body: (Key, Value) -> Void) {
        for (k, v) in old where young[k] == nil { body(k, v) }
        for (k, v) in young { body(k, v) }
    }
}

/// An Int that is already the output of the process's seeded hasher (a message's or a
/// name's hash), as a table key: the tables take it as it is instead of hashing it again on
/// every look-up.
public struct HashKey: Hashable, Sendable {
    public let value: Int

    @inline(__always)
    public init(_ value: Int) { self.value = value }

    public func hash(into h: inout Hasher) { h.combine(value) }

    public func _rawHashValue(seed: Int) -> Int { value ^ seed }
}
