# Copyright (c) apa_mmdet contributors.
"""docs/analysis_tools.md: the numbers it gives for the demo's model are
those of the tools' outputs kept beside its pictures (docs/images/demo/:
apa_params.json, activation_stats.json), made from the demo's checkpoint
with the commands the page shows."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / 'docs' / 'images' / 'demo'
# the page's words, whatever its line breaks
PAGE = ' '.join((ROOT / 'docs' / 'analysis_tools.md').read_text().split())


def span(sites, key):
    low = min(site[f'{key}_min'] for site in sites)
    high = max(site[f'{key}_max'] for site in sites)
    return f'{low:.2f}–{high:.2f}'


def test_the_sites_numbers_are_apa_params_output():
    sites = json.loads((DEMO / 'apa_params.json').read_text())['sites']
    aglu = [s for s in sites.values() if s['act'] == 'aglu']
    gates = [s for name, s in sites.items()
             if s['act'] == 'apa' and name.endswith('uniact')]
    assert len(aglu) == 49 and len(gates) == 16
    moved = sum(s['kappa_min'] < 1 or s['kappa_max'] > 1.3 for s in aglu)
    assert (f'AGLU λ spans {span(aglu, "lambda")} and κ '
            f'{span(aglu, "kappa")}') in PAGE
    assert f'κ has left that range at {moved} of the 49 AGLU sites' in PAGE
    assert max(s['kappa_max'] for s in gates) < 0  # "decreasing" gates
    assert f'decreasing* APA (λ {span(gates, "lambda")})' in PAGE


def test_the_classifier_scores_are_activation_stats_output():
    groups = json.loads((DEMO / 'activation_stats.json').read_text())[
        'classifier']['groups']
    positives = ' / '.join(f'{groups[g]["score_pos"]["mean"]:.2f}'
                           for g in 'rcf')
    negatives = ' / '.join(f'{groups[g]["score_neg"]["mean"]:.3f}'
                           for g in 'rcf')
    assert f'positives score {positives} on average' in PAGE
    assert f'negatives {negatives}' in PAGE
