# Lab: a real control plane on loopback (etcd, kube-apiserver, kube-controller-manager) built
# from Go modules; see test/lab/. State in .lab/ (override with LAB_DIR=...).
.PHONY: lab-bins lab-up lab-down

lab-bins:
	test/lab/build.sh etcd && test/lab/build.sh kube

lab-up:
	test/lab/lab-up.sh

lab-down:
	test/lab/lab-down.sh
