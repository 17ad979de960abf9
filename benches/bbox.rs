//! `bbox` of the OGC API in memory or in PostGIS (issue 15 item 3: "Spatial predicates of
//! the OGC API (bbox) may run in PostGIS (ST_Intersects with a GiST index) when the layers
//! live there. Measure against the in-memory R-tree and keep the faster one").
//!
//! The real layers (`layers/manifest.toml` on ../shared/data): the 24,602 HDX settlements
//! (points) and the 159 districts (COD-AB polygons), as `aviso serve` loads them into its
//! OGC collections. The same collections are copied into PostGIS tables (EPSG:4326, a GiST
//! index on the geometry, the paging order kept in a column) on a local server, and one
//! seeded set of bboxes over Mozambique (province-sized, 2-4 degrees a side, and
//! district-sized, 0.3-1 degree; plus the one benches/load.sh asks for) is answered by
//!
//! - `memory`: what `/collections/{id}/items?bbox=` does, `Collection::ids_in_bbox` (the
//!   collection's rstar R-tree of the features' bounding boxes, then the exact
//!   intersection with each candidate's geometry, in paging order). Until 2026-12-03 the
//!   route scanned every feature; this bench's figures moved it behind the R-tree;
//! - `rtree`: an R-tree built here, independently of the route, as a cross-check of the
//!   route's answer and of its cost;
//! - `postgis`: `SELECT id ... WHERE ST_Intersects(geom, ST_MakeEnvelope(..., 4326))
//!   ORDER BY ord` (ST_Intersects uses the GiST index through `&&`) with a connection from
//!   a deadpool pool and a cached prepared statement, as the store would run it: the
//!   cheapest PostGIS path, one round trip.
//!
//! Every bbox is checked to give the same ids in the same order all three ways (the bench
//! names those that do not and fails after the table). Timed: each query `REPS` times per
//! way, interleaved; reported: per layer and size, the median over the bboxes of each
//! query's median, and the worst bbox's median.
//!
//! PostgreSQL: `AVISO_BENCH_PG_URL` (a database where `CREATE EXTENSION postgis` is
//! allowed; its tables `bench_bbox_*` are replaced), else a throwaway cluster of Debian's
//! postgresql (initdb in a temporary folder, 127.0.0.1 on a free port, as the `postgres`
//! user when run as root, stopped at the end), as tests/it/common/pg.rs does.
//!
//! Run: `cargo bench --bench bbox` (docs/postgres-performance.md keeps the figures).
//! Needs the shared data (../shared/data beside the repository, or AVISO_DATA_DIR, as
//! the manifest reads it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use geo::{BoundingRect, Intersects, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use aviso::api::ogc::{Collection, layer_collections};

/// Bboxes per size class.
const BOXES: usize = 40;
/// Timed runs of each query per way.
const REPS: usize = 30;
const SEED: u64 = 0x0a71_5015;
/// Mozambique's extent (CRS84), where the bboxes are drawn.
const MOZ: (f64, f64, f64, f64) = (30.2, -26.9, 40.9, -10.4);

/// SplitMix64: a seeded sequence with no dependency on rand's API.
struct Seq(u64);

impl Seq {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next()
    }
}

/// `n` bboxes with sides between `lo` and `hi` degrees, centred in Mozambique's extent.
fn boxes(seq: &mut Seq, n: usize, lo: f64, hi: f64) -> Vec<[f64; 4]> {
    (0..n)
        .map(|_| {
            let (w, h) = (seq.between(lo, hi), seq.between(lo, hi));
            let (x, y) = (seq.between(MOZ.0, MOZ.2), seq.between(MOZ.1, MOZ.3));
            [x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0]
        })
        .collect()
}

/// The bbox parameter as a client sends it.
fn param(b: &[f64; 4]) -> String {
    format!("{},{},{},{}", b[0], b[1], b[2], b[3])
}

/// An R-tree of the collection's features' bounding boxes, data = paging order.
struct Indexed<'c> {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    items: Vec<(&'c str, &'c geo::Geometry<f64>)>,
}

impl<'c> Indexed<'c> {
    fn new(c: &'c Collection) -> Self {
        let items: Vec<_> = c
            .geometries()
            .filter_map(|(id, g)| Some((id, g?)))
            .collect();
        let rects = items
            .iter()
            .enumerate()
            .filter_map(|(i, (_, g))| {
                let r = g.bounding_rect()?;
                let r = Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                Some(GeomWithData::new(r, i))
            })
            .collect();
        Indexed {
            tree: RTree::bulk_load(rects),
            items,
        }
    }

    fn ids(&self, b: &[f64; 4]) -> Vec<&'c str> {
        let rect = Rect::new(
            geo::coord! {x: b[0], y: b[1]},
            geo::coord! {x: b[2], y: b[3]},
        );
        let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
        let mut hits: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|r| r.data)
            .filter(|&i| rect.intersects(self.items[i].1))
            .collect();
        hits.sort_unstable();
        hits.into_iter().map(|i| self.items[i].0).collect()
    }
}

/// WKT of a geometry the layers hold (points and polygons); f64 Display round-trips.
fn wkt(g: &geo::Geometry<f64>) -> String {
    let ring = |r: &geo::LineString<f64>| {
        let pts: Vec<String> = r.0.iter().map(|c| format!("{} {}", c.x, c.y)).collect();
        format!("({})", pts.join(","))
    };
    let poly = |p: &geo::Polygon<f64>| {
        let mut rings = vec![ring(p.exterior())];
        rings.extend(p.interiors().iter().map(ring));
        format!("({})", rings.join(","))
    };
    match g {
        geo::Geometry::Point(p) => format!("POINT({} {})", p.x(), p.y()),
        geo::Geometry::Polygon(p) => format!("POLYGON{}", poly(p)),
        geo::Geometry::MultiPolygon(m) => {
            let parts: Vec<String> = m.0.iter().map(poly).collect();
            format!("MULTIPOLYGON({})", parts.join(","))
        }
        other => panic!("no WKT here for {other:?}"),
    }
}

/// A throwaway cluster, stopped when dropped.
struct Cluster {
    pg_ctl: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    url: String,
}

fn run(as_postgres: bool, program: &Path, args: &[&str]) {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql (/usr/lib/postgresql), or set AVISO_BENCH_PG_URL")
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
            .max()
            .map(|(_, p)| p.join("bin"))
            .unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_postgres = unsafe { libc::geteuid() == 0 };
        let dir = tempfile::Builder::new()
            .prefix("aviso-bbox.")
            .tempdir()
            .unwrap();
        if as_postgres {
            run(
                false,
                Path::new("chown"),
                &["postgres:", dir.path().to_str().unwrap()],
            );
        }
        let data = dir.path().join("data").display().to_string();
        run(
            as_postgres,
            &bin.join("initdb"),
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let log = dir.path().join("log").display().to_string();
        let pg_ctl = bin.join("pg_ctl");
        run(
            as_postgres,
            &pg_ctl,
            &["-D", &data, "-l", &log, "-w", "-o", &opts, "start"],
        );
        Cluster {
            pg_ctl,
            as_postgres,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        run(
            self.as_postgres,
            &self.pg_ctl,
            &["-D", &data, "-m", "immediate", "stop"],
        );
    }
}

fn pool(url: &str) -> Pool {
    let cfg: tokio_postgres::Config = url.parse().unwrap();
    let manager = Manager::from_config(
        cfg,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(4)
        .runtime(Runtime::Tokio1)
        .build()
        .unwrap()
}

/// Copies a collection into `bench_bbox_{name}` (ord, id, geom) with a GiST index.
async fn load(pool: &Pool, name: &str, c: &Collection) {
    let client = pool.get().await.unwrap();
    let table = format!("bench_bbox_{name}");
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (ord INTEGER PRIMARY KEY, id TEXT NOT NULL,
                                   geom geometry(Geometry, 4326) NOT NULL)"
        ))
        .await
        .unwrap();
    let (mut ords, mut ids, mut wkts) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (id, g)) in c.geometries().enumerate() {
        if let Some(g) = g {
            ords.push(i32::try_from(i).unwrap());
            ids.push(id.to_string());
            wkts.push(wkt(g));
        }
    }
    client
        .execute(
            &format!(
                "INSERT INTO {table} (ord, id, geom)
                 SELECT o, i, ST_GeomFromText(w, 4326)
                 FROM unnest($1::INTEGER[], $2::TEXT[], $3::TEXT[]) AS t(o, i, w)"
            ),
            &[&ords, &ids, &wkts],
        )
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE INDEX ON {table} USING GIST (geom); ANALYZE {table}"
        ))
        .await
        .unwrap();
}

async fn postgis_ids(pool: &Pool, sql: &str, b: &[f64; 4]) -> Vec<String> {
    let client = pool.get().await.unwrap();
    let stmt = client.prepare_cached(sql).await.unwrap();
    client
        .query(&stmt, &[&b[0], &b[1], &b[2], &b[3]])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest)
        .unwrap_or_else(|e| panic!("the real layers are needed: {e}"));
    let collections = layer_collections(&loaded.layers);
    let layer = |id: &str| {
        collections
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no collection {id}"))
    };
    let (settlements, districts) = (layer("settlements"), layer("districts"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cluster = match std::env::var("AVISO_BENCH_PG_URL") {
        Ok(_) => None,
        Err(_) => Some(Cluster::start()),
    };
    let url = std::env::var("AVISO_BENCH_PG_URL")
        .unwrap_or_else(|_| cluster.as_ref().unwrap().url.clone());
    let pool = pool(&url);
    rt.block_on(async {
        let c = pool.get().await.unwrap();
        c.batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
            .await
            .unwrap();
        let v: String = c
            .query_one("SELECT postgis_full_version()", &[])
            .await
            .unwrap()
            .get(0);
        let s: String = c
            .query_one("SHOW server_version", &[])
            .await
            .unwrap()
            .get(0);
        println!("PostgreSQL {s}; {}", v.split(" PROJ").next().unwrap_or(&v));
        load(&pool, "settlements", settlements).await;
        load(&pool, "districts", districts).await;
    });

    let mut seq = Seq(SEED);
    let classes = [
        ("province-sized (2-4 deg)", boxes(&mut seq, BOXES, 2.0, 4.0)),
        (
            "district-sized (0.3-1 deg)",
            boxes(&mut seq, BOXES, 0.3, 1.0),
        ),
        (
            "benches/load.sh (36,-19,38,-17)",
            vec![[36.0, -19.0, 38.0, -17.0]],
        ),
    ];
    println!(
        "\n{} settlements, {} districts; {BOXES} bboxes per size (seed {SEED:#x}), {REPS} runs \
         of each query each way; microseconds per query\n",
        settlements.len(),
        districts.len()
    );
    println!(
        "| layer | bboxes | features matched (median) | memory (the route) | rtree (cross-check) | postgis | postgis worst bbox | memory worst bbox |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut disagree = Vec::new();
    for (name, c) in [("settlements", settlements), ("districts", districts)] {
        let indexed = Indexed::new(c);
        let sql = format!(
            "SELECT id FROM bench_bbox_{name}
             WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) ORDER BY ord"
        );
        for (class, bbs) in &classes {
            let (mut mem, mut tree, mut pg, mut matched) = (vec![], vec![], vec![], vec![]);
            for b in bbs {
                let p = param(b);
                let want: Vec<String> = c
                    .ids_in_bbox(&p)
                    .unwrap()
                    .into_iter()
                    .map(String::from)
                    .collect();
                if indexed.ids(b) != want {
                    disagree.push(format!("{name} bbox={p}: rtree"));
                }
                let got = rt.block_on(postgis_ids(&pool, &sql, b));
                if got != want {
                    disagree.push(format!(
                        "{name} bbox={p}: postgis {} features, memory {}",
                        got.len(),
                        want.len()
                    ));
                }
                matched.push(want.len());
                let (mut m, mut t, mut g) = (vec![], vec![], vec![]);
                for _ in 0..REPS {
                    let s = Instant::now();
                    black_box(c.ids_in_bbox(black_box(&p)).unwrap());
                    m.push(s.elapsed());
                    let s = Instant::now();
                    black_box(indexed.ids(black_box(b)));
                    t.push(s.elapsed());
                    let s = Instant::now();
                    black_box(rt.block_on(postgis_ids(&pool, &sql, b)));
                    g.push(s.elapsed());
                }
                mem.push(median(&mut m));
                tree.push(median(&mut t));
                pg.push(median(&mut g));
            }
            matched.sort_unstable();
            let worst = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
            println!(
                "| {name} | {class}: {} | {} | {} | {} | {} | {} | {} |",
                bbs.len(),
                matched[matched.len() / 2],
                us(median(&mut mem.clone())),
                us(median(&mut tree.clone())),
                us(median(&mut pg.clone())),
                us(worst(&pg)),
                us(worst(&mem)),
            );
        }
    }
    drop(pool);
    drop(cluster);
    // The figures are only worth comparing when the three ways select the same features.
    if !disagree.is_empty() {
        eprintln!("bbox: the ways disagree on:\n{}", disagree.join("\n"));
        std::process::exit(1);
    }
}
