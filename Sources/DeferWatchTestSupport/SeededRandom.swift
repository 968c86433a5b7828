#if canImport(Glibc)
import Glibc
#endif

/// A random number generator that a failing test can replay: SplitMix64 from a seed.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    public let seed: UInt64

    public init(_ seed: UInt64) {
        self.seed = seed
        state = seed
    }

    /// Seeded from DEFERWATCH_SEED when it is set (to replay a failure), else from the
    /// system's generator; the seed is printed, so every run can be replayed.
    public static func fromEnvironment(_ test: String = #function) -> SeededRandom {
        let seed = TestSeed.value(default: UInt64.random(in: 1...UInt64.max))
        print("\(test): DEFERWATCH_SEED=\(seed)")
        return SeededRandom(seed)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed of the randomised tests: DEFERWATCH_SEED when set, else the test's default.
public enum TestSeed {
    public static func value(default d: UInt64) -> UInt64 {
        if let s = getenv("DEFERWATCH_SEED"), let v = UInt64(String(cString: s)) { return v }
        return d
    }
}
