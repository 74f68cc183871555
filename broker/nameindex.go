package broker

// nameIndex is an ordered map from names to values: an AVL tree, so that
// insert, delete and seeking to a name cost O(log n) in the worst case
// whatever names clients choose, and a page of k entries from a cursor
// costs O(log n + k). The core keeps one for queues and one for exchanges,
// maintained at declare and delete time, so that stats pages never sort.
type nameIndex[V any] struct {
	root *nameNode[V]
	n    int
}

type nameNode[V any] struct {
	key         string
	val         V
	left, right *nameNode[V]
	height      int8
}

func (t *nameIndex[V]) len() int { return t.n }

func height[V any](n *nameNode[V]) int8 {
	if n == nil {
		return 0
	}
	return n.height
}

func (n *nameNode[V]) fix() {
	n.height = max(height(n.left), height(n.right)) + 1
}

func rotateRight[V any](n *nameNode[V]) *nameNode[V] {
	l := n.left
	n.left, l.right = l.right, n
	n.fix()
	l.fix()
	return l
}

func rotateLeft[V any](n *nameNode[V]) *nameNode[V] {
	r := n.right
	n.right, r.left = r.left, n
	n.fix()
	r.fix()
	return r
}

// balance restores the AVL property at n after one insert or delete below.
func balance[V any](n *nameNode[V]) *nameNode[V] {
	n.fix()
	switch b := height(n.left) - height(n.right); {
	case b > 1:
		if height(n.left.left) < height(n.left.right) {
			n.left = rotateLeft(n.left)
		}
		return rotateRight(n)
	case b < -1:
		if height(n.right.right) < height(n.right.left) {
			n.right = rotateRight(n.right)
		}
		return rotateLeft(n)
	}
	return n
}

// set inserts key or replaces its value.
func (t *nameIndex[V]) set(key string, v V) {
	t.root = t.insert(t.root, key, v)
}

func (t *nameIndex[V]) insert(n *nameNode[V], key string, v V) *nameNode[V] {
	switch {
	case n == nil:
		t.n++
		return &nameNode[V]{key: key, val: v, height: 1}
	case key < n.key:
		n.left = t.insert(n.left, key, v)
	case key > n.key:
		n.right = t.insert(n.right, key, v)
	default:
		n.val = v
		return n
	}
	return balance(n)
}

// delete removes key if present.
func (t *nameIndex[V]) delete(key string) {
	t.root = t.remove(t.root, key)
}

func (t *nameIndex[V]) remove(n *nameNode[V], key string) *nameNode[V] {
	switch {
	case n == nil:
		return nil
	case key < n.key:
		n.left = t.remove(n.left, key)
	case key > n.key:
		n.right = t.remove(n.right, key)
	default:
		t.n--
		if n.left == nil {
			return n.right
		}
		if n.right == nil {
			return n.left
		}
		// Replace n by its successor, the leftmost node on the right.
		var succ *nameNode[V]
		n.right = removeMin(n.right, &succ)
		succ.left, succ.right = n.left, n.right
		n = succ
	}
	return balance(n)
}

func removeMin[V any](n *nameNode[V], min **nameNode[V]) *nameNode[V] {
	if n.left == nil {
		*min = n
		return n.right
	}
	n.left = removeMin(n.left, min)
	return balance(n)
}

// ascend calls fn for each entry whose key is greater than after (every
// entry when after is empty, since names are never empty), in key order,
// until fn returns false.
func (t *nameIndex[V]) ascend(after string, fn func(key string, v V) bool) {
	ascendAfter(t.root, after, fn)
}

func ascendAfter[V any](n *nameNode[V], after string, fn func(string, V) bool) bool {
	for n != nil {
		if n.key <= after {
			n = n.right // nothing on the left qualifies
			continue
		}
		if !ascendAfter(n.left, after, fn) || !fn(n.key, n.val) {
			return false
		}
		// Everything on the right is greater than n.key > after.
		after, n = n.key, n.right
	}
	return true
}

// get returns the value stored under key.
func (t *nameIndex[V]) get(key string) (V, bool) {
	for n := t.root; n != nil; {
		switch {
		case key < n.key:
			n = n.left
		case key > n.key:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}
