package natsbroker

// RemoteChannels is how many channels this node holds a NATS subscription for.
func (b *Broker) RemoteChannels() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.chans)
}
