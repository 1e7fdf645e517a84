/* OVA writer (include/imager/disk/ova.h): DMTF DSP0243 (OVF 1.1) envelope with the
 * References, DiskSection, NetworkSection and one VirtualSystem (OperatingSystemSection,
 * VirtualHardwareSection with CIM RASD items: ResourceType 3 CPU, 4 memory, 6 SCSI
 * controller, 17 disk, 10 NIC); VMware's vmw: attributes for the guest type and
 * controller/NIC kinds. */
#include "imager/disk/ova.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/disk/disktar.h"
#include "imager/disk/vmdk.h"

#define CPUS	  2
#define MEMORY_MB 2048

char *im_ova_descriptor(const char *base, const char *arch, uint64_t capacity, uint64_t populated,
			uint64_t vmdk_size)
{
	char *s = NULL;
	/* arm64: ESXi-Arm boots UEFI only; amd64 images are dual-boot, BIOS is the default. */
	const char *fw = strcmp(arch, "arm64") ? "bios" : "efi";
	int n = asprintf(
	    &s,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""
	    " xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\""
	    " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
	    " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	    "CIM_ResourceAllocationSettingData\""
	    " xmlns:vmw=\"http://www.vmware.com/schema/ovf\""
	    " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	    "CIM_VirtualSystemSettingData\""
	    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
	    "  <References>\n"
	    "    <File ovf:href=\"%s.vmdk\" ovf:id=\"file1\" ovf:size=\"%llu\"/>\n"
	    "  </References>\n"
	    "  <DiskSection>\n"
	    "    <Info>Virtual disk information</Info>\n"
	    "    <Disk ovf:capacity=\"%llu\" ovf:capacityAllocationUnits=\"byte\""
	    " ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\""
	    " ovf:format=\"http://www.vmware.com/interfaces/specifications/"
	    "vmdk.html#streamOptimized\""
	    " ovf:populatedSize=\"%llu\"/>\n"
	    "  </DiskSection>\n"
	    "  <NetworkSection>\n"
	    "    <Info>The list of logical networks</Info>\n"
	    "    <Network ovf:name=\"VM Network\">\n"
	    "      <Description>The VM Network network</Description>\n"
	    "    </Network>\n"
	    "  </NetworkSection>\n"
	    "  <VirtualSystem ovf:id=\"%s\">\n"
	    "    <Info>A virtual machine</Info>\n"
	    "    <Name>%s</Name>\n"
	    "    <OperatingSystemSection ovf:id=\"101\" vmw:osType=\"otherLinux64Guest\">\n"
	    "      <Info>The kind of installed guest operating system</Info>\n"
	    "    </OperatingSystemSection>\n"
	    "    <VirtualHardwareSection>\n"
	    "      <Info>Virtual hardware requirements</Info>\n"
	    "      <System>\n"
	    "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
	    "        <vssd:InstanceID>0</vssd:InstanceID>\n"
	    "        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>\n"
	    "        <vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>\n"
	    "      </System>\n"
	    "      <Item>\n"
	    "        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>\n"
	    "        <rasd:Description>Number of Virtual CPUs</rasd:Description>\n"
	    "        <rasd:ElementName>%d virtual CPU(s)</rasd:ElementName>\n"
	    "        <rasd:InstanceID>1</rasd:InstanceID>\n"
	    "        <rasd:ResourceType>3</rasd:ResourceType>\n"
	    "        <rasd:VirtualQuantity>%d</rasd:VirtualQuantity>\n"
	    "      </Item>\n"
	    "      <Item>\n"
	    "        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n"
	    "        <rasd:Description>Memory Size</rasd:Description>\n"
	    "        <rasd:ElementName>%dMB of memory</rasd:ElementName>\n"
	    "        <rasd:InstanceID>2</rasd:InstanceID>\n"
	    "        <rasd:ResourceType>4</rasd:ResourceType>\n"
	    "        <rasd:VirtualQuantity>%d</rasd:VirtualQuantity>\n"
	    "      </Item>\n"
	    "      <Item>\n"
	    "        <rasd:Address>0</rasd:Address>\n"
	    "        <rasd:Description>SCSI Controller</rasd:Description>\n"
	    "        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>\n"
	    "        <rasd:InstanceID>3</rasd:InstanceID>\n"
	    "        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>\n"
	    "        <rasd:ResourceType>6</rasd:ResourceType>\n"
	    "      </Item>\n"
	    "      <Item>\n"
	    "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n"
	    "        <rasd:ElementName>Hard Disk 1</rasd:ElementName>\n"
	    "        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>\n"
	    "        <rasd:InstanceID>4</rasd:InstanceID>\n"
	    "        <rasd:Parent>3</rasd:Parent>\n"
	    "        <rasd:ResourceType>17</rasd:ResourceType>\n"
	    "      </Item>\n"
	    "      <Item>\n"
	    "        <rasd:AddressOnParent>7</rasd:AddressOnParent>\n"
	    "        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n"
	    "        <rasd:Connection>VM Network</rasd:Connection>\n"
	    "        <rasd:Description>VmxNet3 ethernet adapter on &quot;VM Network&quot;"
	    "</rasd:Description>\n"
	    "        <rasd:ElementName>Network adapter 1</rasd:ElementName>\n"
	    "        <rasd:InstanceID>5</rasd:InstanceID>\n"
	    "        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>\n"
	    "        <rasd:ResourceType>10</rasd:ResourceType>\n"
	    "      </Item>\n"
	    "      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"%s\"/>\n"
	    "      <vmw:ExtraConfig ovf:required=\"false\" vmw:key=\"disk.EnableUUID\""
	    " vmw:value=\"TRUE\"/>\n"
	    "    </VirtualHardwareSection>\n"
	    "  </VirtualSystem>\n"
	    "</Envelope>\n",
	    base, (unsigned long long)vmdk_size, (unsigned long long)capacity,
	    (unsigned long long)populated, base, base, base, CPUS, CPUS, MEMORY_MB, MEMORY_MB, fw);
	return n < 0 ? NULL : s;
}

static int copy_member(int from, uint64_t size, struct im_sink *out, struct im_error *err)
{
	static uint8_t buf[1 << 20];
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		if (im_extents_pread(from, buf, n, off, err) < 0 ||
		    im_sink_write(out, buf, n, err) < 0)
			return -1;
		off += n;
	}
	return im_tar_pad(out, size, err);
}

static int tar_buffer(struct im_sink *out, const char *name, const char *text, int64_t mtime,
		      struct im_error *err)
{
	size_t n = strlen(text);
	if (im_tar_header(out, name, n, mtime, err) < 0 || im_sink_write(out, text, n, err) < 0)
		return -1;
	return im_tar_pad(out, n, err);
}

int im_ova_write(const struct im_extents *x, int fd, const char *base, const char *arch,
		 int64_t mtime, const char *tmp_dir, struct im_sink *out, struct im_progress *pr,
		 struct im_error *err)
{
	char vmdk[200], ovf[200], mf[200], hex_vmdk[65], hex_ovf[65], *text = NULL;
	char *manifest = NULL;
	uint8_t digest[32];
	struct im_sha256 sha;
	struct im_sink file, hashed;
	struct im_vmdk_info info;
	snprintf(vmdk, sizeof(vmdk), "%s.vmdk", base);
	snprintf(ovf, sizeof(ovf), "%s.ovf", base);
	snprintf(mf, sizeof(mf), "%s.mf", base);
	int tmp = im_disk_tmpfile(tmp_dir, err);
	if (tmp < 0)
		return -1;
	im_sha256_init(&sha);
	im_sink_fd(&file, tmp);
	im_sink_sha256(&hashed, &sha, &file);
	int rc = im_vmdk_write(x, fd, vmdk, &hashed, &info, pr, err);
	im_sha256_final(&sha, digest);
	for (int i = 0; i < 32; i++)
		snprintf(hex_vmdk + 2 * i, 3, "%02x", digest[i]);
	if (rc == 0 && !(text = im_ova_descriptor(base, arch, x->size, info.populated, hashed.pos)))
		rc = im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (rc == 0) {
		im_sha256_hex(text, strlen(text), hex_ovf);
		if (asprintf(&manifest, "SHA256(%s)= %s\nSHA256(%s)= %s\n", ovf, hex_ovf, vmdk,
			     hex_vmdk) < 0)
			rc = im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (rc == 0)
		rc = tar_buffer(out, ovf, text, mtime, err);
	if (rc == 0)
		rc = im_tar_header(out, vmdk, hashed.pos, mtime, err);
	if (rc == 0)
		rc = copy_member(tmp, hashed.pos, out, err);
	if (rc == 0)
		rc = tar_buffer(out, mf, manifest, mtime, err);
	if (rc == 0)
		rc = im_tar_end(out, err);
	free(text);
	free(manifest);
	close(tmp);
	return rc;
}
