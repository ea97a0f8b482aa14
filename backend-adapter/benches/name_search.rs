//! Name-prefix search over a generated ward of 1,000,000 persons: the key-index search the counter uses, beside a
//! plain `LIKE` scan over the same names measured in the same run. Prints generation time and P50/P99 latencies.
//!
//! `cargo bench -p madoguchi-backend-adapter --bench name_search` (set `MADOGUCHI_BENCH_PERSONS` for another size).

use std::time::{Duration, Instant};

use backend_adapter::ResidentSystem as _;
use backend_adapter::reference::{GenerationOptions, ReferenceResidentSystem, generate};
use backend_adapter::types::SearchQuery;

/// Prefixes an operator types: kana (hiragana, katakana, half-width), kanji, variants, alphabet.
const PREFIXES: &[&str] = &[
    "やまだ",
    "ヤマ",
    "ｻﾄｳ",
    "スズキ",
    "タカハシ",
    "高橋",
    "髙橋",
    "佐藤",
    "鈴木",
    "中村",
    "山",
    "ワタナベ",
    "イトウ",
    "キムラ",
    "𠮷田",
    "葛西",
    "NGUYEN",
    "ハセガワ",
    "小林",
    "モリ",
];

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let persons: u64 = std::env::var("MADOGUCHI_BENCH_PERSONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    // The generator averages about 2.23 persons a household.
    let households = persons * 100 / 222 + 1;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("residents.sqlite");
        let started = Instant::now();
        let summary = generate(&path, GenerationOptions { seed: 2026, households }, &|_, _| {}).await?;
        let generation = started.elapsed();
        let size_mb = std::fs::metadata(&path)?.len() as f64 / 1_048_576.0;
        println!(
            "generated {} persons in {} households in {:.1} s ({:.0} persons/s), file {:.0} MiB",
            summary.persons,
            summary.households,
            generation.as_secs_f64(),
            summary.persons as f64 / generation.as_secs_f64(),
            size_mb
        );
        let residents = ReferenceResidentSystem::open(&path).await?;

        // Warm both paths once so the page cache state is the same for both.
        for prefix in PREFIXES {
            residents.search(&SearchQuery { name_prefix: Some((*prefix).into()), ..Default::default() }).await?;
        }
        residents.search_by_like_scan(PREFIXES[0], 50).await?;

        let mut indexed = Vec::new();
        for _round in 0..25 {
            for prefix in PREFIXES {
                let query = SearchQuery { name_prefix: Some((*prefix).into()), limit: 50, ..Default::default() };
                let t = Instant::now();
                let hits = residents.search(&query).await?;
                indexed.push(t.elapsed());
                std::hint::black_box(hits);
            }
        }
        let mut scan = Vec::new();
        for prefix in PREFIXES {
            let t = Instant::now();
            let hits = residents.search_by_like_scan(prefix, 50).await?;
            scan.push(t.elapsed());
            std::hint::black_box(hits);
        }
        let (i50, i99) = (percentile(&mut indexed, 0.50), percentile(&mut indexed, 0.99));
        let (s50, s99) = (percentile(&mut scan, 0.50), percentile(&mut scan, 0.99));
        println!(
            "name-prefix search, {} queries over {} prefixes, first 50 hits with full records:",
            indexed.len(),
            PREFIXES.len()
        );
        println!("  key index   P50 {:8.3} ms   P99 {:8.3} ms", ms(i50), ms(i99));
        println!("  LIKE scan   P50 {:8.3} ms   P99 {:8.3} ms   ({} queries, ids only)", ms(s50), ms(s99), scan.len());
        println!(
            "  speed-up    P50 {:.0}x   P99 {:.0}x   target: P99 <= 5 ms ({}), >= 50x faster ({})",
            s50.as_secs_f64() / i50.as_secs_f64(),
            s99.as_secs_f64() / i99.as_secs_f64(),
            if ms(i99) <= 5.0 { "met" } else { "NOT met" },
            if s50.as_secs_f64() / i50.as_secs_f64() >= 50.0 { "met" } else { "NOT met" },
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
