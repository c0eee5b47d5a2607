package contract

import "testing"

// TestShapeFor_LongestGeneratedPrefix verifies a plan goes to its own shape
// when generated, else to its longest generated prefix, else to its first
// cluster alone.
func TestShapeFor_LongestGeneratedPrefix(t *testing.T) {
	generated := map[string]bool{
		ShapeCluster([]string{"a", "b", "c"}): true,
		ShapeCluster([]string{"b", "c"}):      true,
		ShapeCluster([]string{"a", "c"}):      true,
	}
	tests := []struct {
		name     string
		clusters []string
		want     Shape
	}{
		{"generated", []string{"a", "b", "c"}, Shape{Cluster: "llm_failover_shape_a__b__c", Len: 3}},
		{"prefix", []string{"a", "c", "b"}, Shape{Cluster: "llm_failover_shape_a__c", Len: 2}},
		{"first alone", []string{"c", "a"}, Shape{Cluster: "c", Len: 1}},
		{"one cluster", []string{"b"}, Shape{Cluster: "b", Len: 1}},
		{"none", nil, Shape{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ShapeFor(tt.clusters, generated); got != tt.want {
				t.Errorf("ShapeFor(%q) = %+v, want %+v", tt.clusters, got, tt.want)
			}
		})
	}
}

// TestSlotHeader_NamesAttemptN verifies the 1.39 slot header of attempt n.
func TestSlotHeader_NamesAttemptN(t *testing.T) {
	if got, want := SlotHeader(3), "x-llm-failover-slot-3"; got != want {
		t.Errorf("SlotHeader(3) = %q, want %q", got, want)
	}
}
