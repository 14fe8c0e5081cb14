//! The registry as a user meets it: every plugin linked, unknown names and keys rejected with
//! the valid list.

use prefzoo::registry;
use prefzoo_core::BuildContext;

/// Catches a plugin that was written but not linked (`extern crate … as _;` in src/lib.rs).
#[test]
fn registered_names() {
    insta::assert_snapshot!(prefzoo::algo_names().join("\n"));
}

#[test]
fn every_plugin_documents_exactly_its_keys_and_builds_from_its_defaults() {
    for p in registry::plugins() {
        let defaults = (p.defaults)();
        let keys: Vec<&str> = defaults
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut documented: Vec<&str> = p.params.iter().map(|d| d.name).collect();
        documented.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(
            keys, documented,
            "{}: documented params vs defaults",
            p.name
        );
        assert!(
            !p.summary.is_empty() && p.paper.contains("20"),
            "{}",
            p.name
        );
        assert!(!p.reference.is_empty(), "{}: reference", p.name);
        (p.build)(&serde_json::Value::Null, &BuildContext::default())
            .unwrap_or_else(|e| panic!("{}: defaults do not build: {e}", p.name));
    }
}

#[test]
fn unknown_algo_lists_the_registered_ones() {
    let e = registry::build("edp", &serde_json::Value::Null, &BuildContext::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("unknown algo `edp`, did you mean `edpo`?"),
        "{e}"
    );
    for name in prefzoo::algo_names() {
        assert!(e.contains(name), "{e}");
    }
}

#[test]
fn unknown_key_names_the_nearest_and_the_valid_ones() {
    let table = serde_json::json!({"beta": 0.1, "epsilom": 0.1});
    let e = registry::build("edpo", &table, &BuildContext::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("unknown key `epsilom`, did you mean `epsilon`?"),
        "{e}"
    );
    assert!(
        e.contains("valid keys: beta, epsilon, epsilon_check"),
        "{e}"
    );
}

#[test]
fn bad_values_are_rejected_when_built() {
    let ctx = BuildContext::default();
    let e = registry::build("dpo", &serde_json::json!({"beta": -1.0}), &ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`beta` = -1 is outside"), "{e}");
    let e = registry::build("edpo", &serde_json::json!({"epsilon": "big"}), &ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("invalid type"), "{e}");
    let e = registry::build(
        "edpo",
        &serde_json::json!({"beta_update": "sometimes"}),
        &ctx,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("official") && e.contains("paper"), "{e}");
}
