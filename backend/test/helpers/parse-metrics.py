"""Parses a Prometheus text exposition from stdin with the Prometheus Python client's own parser; prints JSON."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

families = []
for f in text_string_to_metric_families(sys.stdin.read()):
    samples = [{'name': s.name, 'labels': s.labels, 'value': None if math.isnan(s.value) else s.value} for s in f.samples]
    families.append({'name': f.name, 'type': f.type, 'samples': samples})
json.dump(families, sys.stdout)
