//go:build tools

// Package tools pins the Go modules whose API types the CRD schemas are generated from
// (scripts/install-k8s-tools.sh): KEDA's ScaledObject and the Prometheus Operator's
// ServiceMonitor and PrometheusRule, and controller-gen, the generator both projects use.
package tools

import (
	_ "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
